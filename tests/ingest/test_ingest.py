"""The ingest worker: every published event stored exactly once, poison to gp:dead, faults survived."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest
import redis
from sqlalchemy import text

from core.config import settings
from core.events import dead_letter_key, stream_key
from blockdata.db import transaction
from ingest.live_state import LiveState
from ingest.worker import GROUP, IngestWorker
from tests import places as P
from tests.conftest import ROOT
from tests.streams import (
    distinct_stored, make_events, private_redis, publish, reset_events, rollup_total, stored, wait_for, worker_env,
)


@pytest.fixture(scope="module")
def gate(database_url: str) -> tuple[int, int]:
    with transaction() as s:
        P.build(s)
        return P.compound_gate(s)


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test (under the test prefix), so tests never see each other's streams."""
    p = f"{settings().redis_prefix}t{uuid.uuid4().hex[:8]}:"
    yield p
    client = redis.Redis.from_url(settings().redis_url)
    keys = list(client.scan_iter(match=p + "*"))
    if keys:
        client.delete(*keys)


def worker_for(prefix: str, **overrides: object) -> IngestWorker:
    cfg = dataclasses.replace(settings(), redis_prefix=prefix, **overrides)
    return IngestWorker(cfg, consumer="test")


def test_events_land_once_with_rollups_and_live_state(gate: tuple[int, int], prefix: str) -> None:
    reset_events()
    gate_id, compound_id = gate
    events = make_events(500, gate_id, compound_id)
    client = redis.Redis.from_url(settings().redis_url)
    publish(client, stream_key(prefix, 0), events)
    worker = worker_for(prefix)
    stats = worker.run(idle_exit_s=0.5)
    assert stats.stored == 500 and stats.dead == 0
    assert stored() == 500 and rollup_total() == 500
    # Replaying the very same messages (a redelivery) changes nothing.
    publish(client, stream_key(prefix, 0), events[:200])
    stats = worker.run(idle_exit_s=0.5)
    assert stored() == 500 and rollup_total() == 500 and stats.duplicates == 200
    with transaction() as s:
        entries, exits, denied = s.execute(
            text("SELECT sum(entries), sum(exits), sum(denied) FROM gate_flow_minute WHERE gate_id = :g"), {"g": gate_id}
        ).one()
    expected_in = sum(1 for e in events if e.result == "open" and e.direction == "in")
    expected_out = sum(1 for e in events if e.result == "open" and e.direction == "out")
    assert (entries, exits, denied) == (expected_in, expected_out, 500 - expected_in - expected_out)
    live = LiveState(client, prefix)
    assert live.gate_flows(60)[gate_id] == {"in": expected_in, "out": expected_out, "deny": 500 - expected_in - expected_out}
    # Nothing of a person is kept in the live state: only the per-gate minute counters.
    assert all(":flow:" in k.decode() for k in client.scan_iter(match=prefix + "live:*"))
    landed = client.xrevrange(f"{prefix}landed", count=5)
    assert landed and str(compound_id) in landed[0][1][b"compounds"].decode().split(",")
    # Everything acked: nothing pending, and the stream trimmed below what the group has acked.
    assert client.xpending(stream_key(prefix, 0), GROUP)["pending"] == 0
    worker.trim()
    assert client.xlen(stream_key(prefix, 0)) <= 1


def test_poison_messages_go_to_dead_letters_and_the_rest_flows(gate: tuple[int, int], prefix: str) -> None:
    reset_events()
    gate_id, compound_id = gate
    client = redis.Redis.from_url(settings().redis_url)
    key = stream_key(prefix, 0)
    good = make_events(100, gate_id, compound_id, seed=2)
    publish(client, key, good[:50])
    bad_fields = [
        {"v": "1", "event_id": "not-a-uuid"},
        {**good[0].to_fields(), "event_id": str(uuid.uuid4())},  # a v4 id: not time-ordered
        {**good[1].to_fields(), "direction": "sideways"},
        {**good[2].to_fields(), "gate_id": "999999"},  # unknown gate
        {**good[3].to_fields(), "ts": "yesterday"},
        {**good[4].to_fields(), "v": "9"},
    ]
    for fields in bad_fields:
        client.xadd(key, fields)
    publish(client, key, good[50:])
    stats = worker_for(prefix).run(idle_exit_s=0.5)
    assert stats.dead == len(bad_fields)
    assert stored([e.event_id for e in good]) == 100 and stored() == 100
    dead = client.xrange(dead_letter_key(prefix))
    errors = [fields[b"error"].decode() for _, fields in dead]
    assert len(errors) == 6
    assert any("UUID" in e for e in errors) and any("UUIDv7" in e for e in errors)
    assert any("direction" in e for e in errors) and any("unknown gate 999999" in e for e in errors)
    assert any("ISO 8601" in e for e in errors) and any("version" in e for e in errors)
    assert client.xpending(key, GROUP)["pending"] == 0


def _spawn_worker(prefix: str, redis_url: str, consumer: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "ingest", "--consumer", consumer, "--exit-when-idle", "3"],
        cwd=ROOT, env=worker_env(prefix, redis_url, **env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def test_kill_9_mid_batch_then_another_worker_stores_everything_exactly_once(gate: tuple[int, int], prefix: str) -> None:
    reset_events()
    gate_id, compound_id = gate
    client = redis.Redis.from_url(settings().redis_url)
    events = make_events(30_000, gate_id, compound_id, seed=3)
    small = {"GRIDPULSE_INGEST_BATCH_SIZE": "500", "GRIDPULSE_INGEST_CLAIM_IDLE_MS": "1500"}
    first = _spawn_worker(prefix, settings().redis_url, "doomed", **small)
    publisher = threading.Thread(target=publish, args=(client, stream_key(prefix, 0), events))
    publisher.start()
    assert wait_for(lambda: stored() >= 3_000, 60), "the first worker stored nothing"
    first.send_signal(signal.SIGKILL)
    first.wait()
    publisher.join()
    killed_at = stored()
    assert killed_at < len(events), "the worker finished before it could be killed; raise the event count"
    second = _spawn_worker(prefix, settings().redis_url, "survivor", **small)
    second.wait(timeout=240)
    assert second.returncode == 0, second.stdout.read().decode()
    assert stored() == len(events) == distinct_stored()
    assert rollup_total() == len(events)
    assert client.xpending(stream_key(prefix, 0), GROUP)["pending"] == 0


def test_postgres_restart_while_events_flow_loses_and_doubles_nothing(gate: tuple[int, int], prefix: str) -> None:
    if os.geteuid() != 0 or not os.path.isdir("/etc/postgresql"):
        pytest.fail("this fault test restarts the local PostgreSQL cluster and needs root on a Debian cluster")
    reset_events()
    gate_id, compound_id = gate
    client = redis.Redis.from_url(settings().redis_url)
    events = make_events(20_000, gate_id, compound_id, seed=4)
    worker = _spawn_worker(prefix, settings().redis_url, "steady", GRIDPULSE_INGEST_BATCH_SIZE="500")
    publisher = threading.Thread(target=publish, args=(client, stream_key(prefix, 0), events))
    publisher.start()
    assert wait_for(lambda: stored() >= 2_000, 60)
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"], check=True)
    publisher.join()
    worker.wait(timeout=240)
    out = worker.stdout.read().decode()
    assert worker.returncode == 0, out
    assert stored() == len(events) == distinct_stored()
    assert rollup_total() == len(events)
    assert '"db_retries": 0' not in out, "the restart was not noticed: the test proved nothing"


def test_redis_restart_loses_nothing_acked(gate: tuple[int, int], prefix: str) -> None:
    reset_events()
    gate_id, compound_id = gate
    events = make_events(10_000, gate_id, compound_id, seed=5)
    with private_redis() as (port, restart):
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        worker = _spawn_worker(prefix, url, "steady", GRIDPULSE_INGEST_BATCH_SIZE="500")
        publish(client, stream_key(prefix, 0), events[:5_000])
        assert wait_for(lambda: stored() >= 1_000, 60)
        restart()
        client = redis.Redis.from_url(url)
        publish(client, stream_key(prefix, 0), events[5_000:])
        worker.wait(timeout=240)
        out = worker.stdout.read().decode()
        assert worker.returncode == 0, out
        assert stored() == len(events) == distinct_stored()
        assert rollup_total() == len(events)
        assert client.xpending(stream_key(prefix, 0), GROUP)["pending"] == 0
        assert '"redis_retries": 0' not in out, "the restart was not noticed: the test proved nothing"
