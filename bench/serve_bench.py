"""The app as served, under a street's worth of people at once: 10 wall screens refreshing, 30
supervisors drilling, 50 grid workers opening their orders — simulated users over HTTP, each with its own
session and think time — against the same mix with one user of each kind, and the same run against the
development server (`python app.py`, Flask's threaded server in one process).

Figures: p50/p95 of page loads (GET of the page) and of callbacks (POST /_dash-update-component: the
wall's refresh, the drill-down's level, the orders page's content), errors. The goal: p95 of callbacks
under load ≤ 3 × the single-user p95 (the ratio is the figure; the single-user run of the same server in
the same run is the floor), with no errors.

Uses its own database (gridpulse_bench_serve) and Redis prefix (gpbench:). `--quick` seeds `tiny` and
runs 30 s per phase; otherwise `street` and 120 s. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_serve")
os.environ.setdefault("GRIDPULSE_REDIS_PREFIX", "gpbench:")
os.environ.setdefault("GRIDPULSE_KEY_FILE", str(ROOT / "var" / "bench-secrets.json"))

import requests  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from analytics.sweep import run_rules  # noqa: E402
from bench.common import fresh_database  # noqa: E402
from blockdata.db import transaction  # noqa: E402
from blockdata.models import Account  # noqa: E402
from core.passwords import hash_password  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402
from tests.browser import http_login  # noqa: E402

PASSWORD = "bench-pass-1234"
MIX = {"wall": 10, "supervisor": 30, "worker": 50}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Record:
    pages: list[float] = field(default_factory=list)
    callbacks: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what failed, e.g. "callback 500"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, ms: float) -> None:
        with self.lock:
            (self.pages if kind == "page" else self.callbacks).append(ms)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def prepare(preset: str) -> dict:
    fresh_database(os.environ["GRIDPULSE_DATABASE_URL"])
    run_seed(preset=preset, seed=7, reset=True)
    with transaction() as s:
        run_rules(s, dt.datetime.now(dt.timezone.utc))
        for account in s.scalars(select(Account)):
            account.password_hash = hash_password(PASSWORD)
        accounts = {role: [a.username for a in s.scalars(select(Account).where(Account.role == role))]
                    for role in ("street", "supervisor", "worker")}
        places = {row.code[:12]: [] for row in s.execute(text("SELECT code FROM grid"))}
        for code, bid in s.execute(text("SELECT g.code, b.id FROM building b JOIN grid g ON g.id = b.grid_id")):
            places.setdefault(code[:12], []).append(f"building:{bid}")
        for code, in s.execute(text("SELECT code FROM grid")):
            places[code[:12]].append(f"grid:{code}")
        jurisdiction = {a.username: list(a.jurisdiction or ()) for a in s.scalars(select(Account))}
    return {"accounts": accounts, "places": places, "jurisdiction": jurisdiction}


class Server:
    """The app under gunicorn (`gridpulse serve --only app`) or the development server (`python app.py`)."""

    def __init__(self, mode: str, workdir: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "GRIDPULSE_PORT": str(self.port), "GRIDPULSE_METRICS_DIR": str(workdir / "metrics"),
               "GRIDPULSE_LOG_DIR": str(workdir / "log")}
        argv = [sys.executable, "-m", "cli", "serve", "--only", "app"] if mode == "gunicorn" else [sys.executable, "app.py"]
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(self.url + "/login", timeout=2).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"the {mode} server did not start")
                time.sleep(0.5)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class User:
    def __init__(self, base: str, username: str, record: Record) -> None:
        self.base, self.record = base, record
        try:  # the login form's CSRF token, and the session's on every callback, as a browser sends them
            self.http = http_login(base, username, PASSWORD)
        except AssertionError as exc:
            raise SystemExit(str(exc)) from None

    def page(self, path: str) -> None:
        self._timed("page", lambda: self.http.get(self.base + path, timeout=60))

    def callback(self, body: dict) -> None:
        self._timed("callback", lambda: self.http.post(self.base + "/_dash-update-component", json=body, timeout=60))

    def _timed(self, kind: str, call: Callable[[], requests.Response]) -> None:
        t0 = time.perf_counter()
        try:
            reply = call()
            ms = (time.perf_counter() - t0) * 1000
            if reply.status_code >= 400:
                self.record.error(f"{kind} {reply.status_code}")
            else:
                self.record.add(kind, ms)
        except requests.RequestException as exc:
            self.record.error(f"{kind} {type(exc).__name__}")


def pages_body(path: str, search: str = "") -> dict:
    """Dash pages' own callback: the page's content for a path (what opening a page costs after the HTML)."""
    return {"output": ".._pages_content.children..._pages_store.data..", "outputs": [
        {"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.pathname"], "state": []}


def wall_output(user: "User") -> str:
    """The wall refresh's output key as the page itself sends it, read from Dash's dependency list (the wall's
    outputs — KPIs, trends, ticker, map patch, heartbeat — change with its layout; a stale key is refused)."""
    deps = user.http.get(user.base + "/_dash-dependencies", timeout=60).json()
    return next(d["output"] for d in deps
                if any(i["id"] == "wall-tick" and i["property"] == "n_intervals" for i in d["inputs"]))


def wall_body(n: int, output: str) -> dict:
    outs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in output.strip(".").split("...")]
    return {"output": output, "outputs": outs,
            "inputs": [{"id": "wall-tick", "property": "n_intervals", "value": n}], "changedPropIds": ["wall-tick.n_intervals"],
            "state": []}


def drill_body(search: str) -> dict:
    return {"output": "..breadcrumbs.children...drill-detail.children...map-spec.data..",
            "outputs": [{"id": "breadcrumbs", "property": "children"}, {"id": "drill-detail", "property": "children"},
                        {"id": "map-spec", "property": "data"}],
            "inputs": [{"id": "drill-url", "property": "search", "value": search}],
            "changedPropIds": ["drill-url.search"], "state": []}


def run_user(kind: str, user: User, places: list[str], stop: threading.Event, rng: random.Random) -> None:
    n = 0
    if kind == "wall":
        user.page("/wall")
        output = wall_output(user)
        while not stop.wait(rng.uniform(4.5, 5.5)):  # GRIDPULSE_MAP_REFRESH_S: 5 s
            n += 1
            user.callback(wall_body(n, output))
    elif kind == "supervisor":
        while not stop.is_set():
            place = rng.choice(places)
            user.page(f"/drill?place={place}")
            user.callback(drill_body(f"?place={place}"))
            stop.wait(rng.uniform(3, 8))  # reading the level before the next click
    else:
        while not stop.is_set():
            user.page("/orders")
            user.callback(pages_body("/orders"))
            stop.wait(rng.uniform(10, 20))  # at a door, then the next order


def phase(base: str, world: dict, mix: dict[str, int], seconds: float) -> Record:
    record, stop, rng = Record(), threading.Event(), random.Random(5)
    roles = {"wall": "street", "supervisor": "supervisor", "worker": "worker"}
    threads = []
    for kind, count in mix.items():
        names = world["accounts"][roles[kind]]
        for i in range(count):
            name = names[i % len(names)]
            prefixes = [c[:12] for c in world["jurisdiction"].get(name, [])]
            places = [p for code, ps in world["places"].items() if any(code.startswith(x[:len(code)]) or x.startswith(code)
                                                                      for x in prefixes) for p in ps] or [p for ps in world["places"].values() for p in ps]
            user = User(base, name, record)
            threads.append(threading.Thread(target=run_user, args=(kind, user, places, stop, random.Random(rng.random())),
                                            daemon=True))
    for t in threads:
        t.start()
        time.sleep(0.02)  # people do not all arrive in the same millisecond
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=90)
    return record


def summary(r: Record) -> dict:
    from collections import Counter

    return {"pages": len(r.pages), "callbacks": len(r.callbacks), "errors": len(r.errors),
            "error_kinds": dict(Counter(r.errors)),
            "page_p50_ms": round(pct(r.pages, 0.5), 1), "page_p95_ms": round(pct(r.pages, 0.95), 1),
            "callback_p50_ms": round(pct(r.callbacks, 0.5), 1), "callback_p95_ms": round(pct(r.callbacks, 0.95), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny street, 30 s per phase")
    parser.add_argument("--seconds", type=float, default=None, help="length of each phase")
    parser.add_argument("--no-dev", action="store_true", help="skip the development server's runs")
    args = parser.parse_args()
    seconds = args.seconds or (30 if args.quick else 120)
    world = prepare("tiny" if args.quick else "street")
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"gp-serve-bench-{os.getpid()}"
    out: dict[str, dict] = {}
    for mode in ("gunicorn",) if args.no_dev else ("gunicorn", "dev"):
        server = Server(mode, work / mode)
        try:
            one = summary(phase(server.url, world, {"wall": 1, "supervisor": 1, "worker": 1}, seconds))
            loaded = summary(phase(server.url, world, MIX, seconds))
        finally:
            server.close()
        ratio = loaded["callback_p95_ms"] / one["callback_p95_ms"]
        out[mode] = {"one_user": one, "loaded": loaded, "callback_p95_ratio": round(ratio, 2)}
        print(f"{mode:8} one user: callbacks p50 {one['callback_p50_ms']} ms p95 {one['callback_p95_ms']} ms, "
              f"pages p95 {one['page_p95_ms']} ms")
        print(f"{mode:8} 10 walls + 30 supervisors + 50 workers: {loaded['callbacks']} callbacks p50 {loaded['callback_p50_ms']} ms "
              f"p95 {loaded['callback_p95_ms']} ms, {loaded['pages']} pages p95 {loaded['page_p95_ms']} ms, "
              f"{loaded['errors']} errors; p95 ratio ×{ratio:.2f} (goal ≤ 3)")
    result = {"benchmark": "serve", "quick": args.quick, "seconds_per_phase": seconds, "mix": MIX, **out}
    if "dev" in out:
        result["gunicorn_vs_dev_loaded_callback_p95"] = round(
            out["gunicorn"]["loaded"]["callback_p95_ms"] / out["dev"]["loaded"]["callback_p95_ms"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
