"""统计 benchmark: the page's answer for a street and a week, against a callback that does nothing.

Measured over HTTP on loopback, as the browser asks for it: the Dash pages router's request for
``/stats?place=<street>&week=<this week>`` (the layout: every indicator this week and last, each child
community's figures, the map thumbnail and the charts) and, as the machine's floor in the same run, the
page's own 查询 callback, which only builds a URL (no database). Also timed: the first refresh of the
daily aggregates on a fresh base (the backfill), a refresh of the recent days as it runs every 5 minutes,
and one weekly report (workbook + PDF). Goal (issue #18): the page ≤ 1 s on `street`, ≤ 2 s on `city`.

Uses its own database (gridpulse_bench_stats) and Redis prefix (gpbench:). ``--quick`` seeds `tiny`,
otherwise `street` with 30 days of events (``--preset city`` for the city). Prints lines, then one JSON
object on the last line.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_stats")
os.environ.setdefault("GRIDPULSE_REDIS_PREFIX", "gpbench:")
os.environ.setdefault("GRIDPULSE_KEY_FILE", str(ROOT / "var" / "bench-secrets.json"))

import requests  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from analytics.stats_refresh import refresh  # noqa: E402
from analytics.sweep import run_rules  # noqa: E402
from bench.common import fresh_database  # noqa: E402
from blockdata.db import transaction  # noqa: E402
from blockdata.models import Account  # noqa: E402
from core.config import settings  # noqa: E402
from core.passwords import hash_password  # noqa: E402
from core.viewer import SYSTEM  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402
from tests.browser import app_server, http_login  # noqa: E402

PASSWORD = "bench-pass-1234"
GOAL_MS = {"tiny": 1000, "street": 1000, "city": 2000}


def page_body(search: str) -> dict:
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/stats"},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname", "_pages_location.search"],
            "parsedChangedPropsIds": ["_pages_location.pathname", "_pages_location.search"]}


def noop_body(place: str) -> dict:
    return {"output": "stats-url.href", "outputs": {"id": "stats-url", "property": "href"},
            "inputs": [{"id": "stats-go", "property": "n_clicks", "value": 1}],
            "state": [{"id": "stats-place", "property": "value", "value": place},
                      {"id": "stats-kind", "property": "value", "value": "week"},
                      {"id": "stats-day", "property": "date", "value": "2026-12-06"},
                      {"id": "stats-map", "property": "value", "value": "pop_actual"}],
            "changedPropIds": ["stats-go.n_clicks"]}


def timed(http: requests.Session, url: str, body: dict, must_hold: str | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    answer = http.post(url + "/_dash-update-component", json=body, timeout=120)
    elapsed = (time.perf_counter() - start) * 1000
    answer.raise_for_status()
    if must_hold and must_hold not in answer.text:
        raise SystemExit(f"the page did not answer with its figures: {answer.text[:300]}")
    return elapsed, len(answer.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seed tiny (seconds) instead of street with 30 days")
    parser.add_argument("--preset", choices=["street", "city"], default="street", help="the seeded place without --quick")
    parser.add_argument("--runs", type=int, default=None, help="requests of each kind measured")
    parser.add_argument("--keep", action="store_true", help="reuse the bench database if it holds a street")
    args = parser.parse_args()
    preset, days = ("tiny", 14) if args.quick else (args.preset, 30)
    runs = args.runs or (5 if args.quick else 15)
    cfg = settings()

    t0 = time.perf_counter()
    if not args.keep:
        fresh_database(cfg.database_url)
        run_seed(preset=preset, seed=7, days=days, reset=True)
    now = dt.datetime.now(dt.timezone.utc)
    with transaction() as s:
        run_rules(s, now)
        s.execute(text("DELETE FROM place_stat_day"))
        s.execute(text("DELETE FROM stat_refresh"))
        for account in s.scalars(select(Account).where(Account.username.in_(["street", "admin"]))):
            account.password_hash = hash_password(PASSWORD)
        street = s.execute(text("SELECT code FROM region WHERE level = 'street' ORDER BY code LIMIT 1")).scalar_one()
        counts = s.execute(text("SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM access_event), "
                                "(SELECT count(*) FROM gate_flow_hour), (SELECT count(*) FROM grid)")).one()
    print(f"{preset}: {counts[0]:,} people, {counts[1]:,} events, {counts[2]:,} gate-hours, {counts[3]} grids; "
          f"set-up {time.perf_counter() - t0:.1f} s")
    with transaction() as s:
        t = time.perf_counter()
        backfill = refresh(s, now)
        backfill_s = time.perf_counter() - t
    with transaction() as s:
        t = time.perf_counter()
        refresh(s, now + dt.timedelta(minutes=5))
        recent_s = time.perf_counter() - t
    print(f"refresh: backfill {backfill_s:.2f} s ({backfill['count_rows']} count rows, {backfill['stock_rows']} stock rows), "
          f"recent days {recent_s:.2f} s")
    year, week, _ = (now + dt.timedelta(hours=8)).date().isocalendar()
    search = f"?place={street}&week={year}-W{week:02d}"

    from dashboard.report import weekly

    t = time.perf_counter()
    report = weekly(SYSTEM, street, f"{year}-W{week:02d}", reason="benchmark")
    report_s = time.perf_counter() - t
    print(f"weekly report: {report_s:.2f} s ({len(report.xlsx):,} B xlsx, {len(report.pdf):,} B pdf)")

    env = {"GRIDPULSE_DATABASE_URL": cfg.database_url, "GRIDPULSE_REDIS_PREFIX": cfg.redis_prefix}
    with app_server(env) as url:
        http = http_login(url, "street", PASSWORD)  # the login form's CSRF token, as a browser sends it
        page, noop, size = [], [], 0
        for i in range(runs + 1):  # the first of each warms the process
            ms, size = timed(http, url, page_body(search), must_hold="stat-pop_actual")
            floor, _ = timed(http, url, noop_body(street))
            if i:
                page.append(ms)
                noop.append(floor)
    result = {
        "bench": "stats", "preset": preset, "people": counts[0], "events": counts[1], "grids": counts[3], "runs": runs,
        "stats_page_ms_p50": round(statistics.median(page), 1), "stats_page_ms_max": round(max(page), 1),
        "stats_page_bytes": size, "noop_callback_ms_p50": round(statistics.median(noop), 1),
        "refresh_backfill_s": round(backfill_s, 2), "refresh_recent_s": round(recent_s, 2),
        "weekly_report_s": round(report_s, 2), "goal_ms": GOAL_MS[preset],
    }
    result["ratio_page_to_noop_callback"] = round(result["stats_page_ms_p50"] / max(result["noop_callback_ms_p50"], 0.1), 2)
    result["meets_goal"] = result["stats_page_ms_p50"] <= GOAL_MS[preset]
    print(f"统计 page {result['stats_page_ms_p50']} ms p50 (max {result['stats_page_ms_max']}), no-op callback "
          f"{result['noop_callback_ms_p50']} ms: ratio {result['ratio_page_to_noop_callback']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
