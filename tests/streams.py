"""Helpers for stream tests: contract-valid events, a private Redis server, and row counts."""
from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from sqlalchemy import text

from core.events import GateEvent, uuid7
from blockdata.db import transaction
from tests.browser import free_port


def make_events(n: int, gate_id: int, compound_id: int, *, seed: int = 1, minutes_back: int = 30) -> list[GateEvent]:
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    events = []
    for _ in range(n):
        ms = now_ms - rng.randrange(minutes_back * 60_000)
        direction = rng.choice(("in", "out"))
        result = "open" if rng.random() < 0.9 else "deny"
        events.append(
            GateEvent(
                event_id=uuid7(ms, rng.randbytes(10)), ts=dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc),
                gate_id=gate_id, compound_id=compound_id, direction=direction,
                method=rng.choice(("face", "resident_qr", "card")), result=result,
                person_id=None, score=round(rng.uniform(0.4, 0.9), 4) if result == "open" else None,
                reason=None if result == "open" else "unknown_face",
            )
        )
    return events


def publish(client: redis.Redis, key: str, events: list[GateEvent]) -> None:
    pipe = client.pipeline(transaction=False)
    for i, e in enumerate(events, 1):
        pipe.xadd(key, e.to_fields())
        if i % 1000 == 0:
            pipe.execute()
    pipe.execute()


def stored(event_ids: list | None = None) -> int:
    with transaction() as s:
        if event_ids is None:
            return s.execute(text("SELECT count(*) FROM access_event")).scalar_one()
        return s.execute(text("SELECT count(*) FROM access_event WHERE event_id = ANY(:ids)"), {"ids": event_ids}).scalar_one()


def distinct_stored() -> int:
    with transaction() as s:
        return s.execute(text("SELECT count(DISTINCT event_id) FROM access_event")).scalar_one()


def rollup_total() -> int:
    with transaction() as s:
        return s.execute(text("SELECT coalesce(sum(entries + exits + denied), 0) FROM gate_flow_minute")).scalar_one()


def reset_events() -> None:
    with transaction() as s:
        s.execute(text("TRUNCATE access_event, gate_flow_minute"))


def wait_for(predicate, timeout: float, interval: float = 0.2) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextmanager
def private_redis(appendonly: bool = True) -> Iterator[tuple[int, callable]]:
    """A redis-server of the test's own on a free port, with AOF fsync on every write.

    Yields (port, restart) where restart() stops the server (SHUTDOWN, which persists) and starts it again.
    """
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="gp-redis-")
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
            "--appendonly", "yes" if appendonly else "no", "--appendfsync", "always"]

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        if not wait_for(lambda: _pings(client), 10):
            raise RuntimeError("private redis did not start")
        return proc

    state = {"proc": start()}

    def restart(down_s: float = 1.0) -> None:
        try:
            redis.Redis(port=port).shutdown(nosave=False)
        except redis.ConnectionError:
            pass
        state["proc"].wait(timeout=10)
        time.sleep(down_s)
        state["proc"] = start()

    try:
        yield port, restart
    finally:
        state["proc"].kill()
        state["proc"].wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def worker_env(prefix: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "GRIDPULSE_REDIS_PREFIX": prefix, "GRIDPULSE_REDIS_URL": redis_url, **extra}
