"""Nothing lost: gate events waiting un-ingested in Redis survive `kill -9` of Redis, with the shipped
configuration (deploy/redis/gridpulse.conf: AOF, fsync everysec), and every one of them lands in PostGIS
once Redis is back. The same kill without persistence loses them all: the test can fail."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import redis

from blockdata.db import transaction
from core.config import settings
from core.events import stream_key
from gate_bridge.publisher import EventPublisher
from ingest.worker import GROUP, IngestWorker
from tests import places as P
from tests.ops.redis_server import own_redis
from tests.streams import make_events, reset_events, stored

N = 3000


@pytest.fixture(scope="module")
def gate(database_url: str) -> tuple[int, int]:
    with transaction() as s:
        P.build(s)
        return P.compound_gate(s)


def _publish_through_the_bridge(url: str, events: list, tmp_path: Path) -> EventPublisher:
    cfg = dataclasses.replace(settings(), redis_url=url)
    publisher = EventPublisher(cfg, client=redis.Redis.from_url(url, decode_responses=True),
                               outbox_path=tmp_path / "outbox.sqlite3")
    for i in range(0, len(events), 100):  # decisions in bursts, as gates send them
        assert all(publisher.publish_many([(e, None) for e in events[i:i + 100]]))
    assert publisher.outbox_depth() == 0, "events went to the outbox: Redis refused them"
    return publisher


def test_kill_9_with_events_waiting_then_every_event_lands(gate: tuple[int, int], tmp_path: Path) -> None:
    reset_events()
    gate_id, compound_id = gate
    events = make_events(N, gate_id, compound_id, seed=19)
    with own_redis() as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("appendfsync")["appendfsync"] == "everysec"
        cfg = dataclasses.replace(settings(), redis_url=server.url)
        IngestWorker(cfg, consumer="ops-test", redis_client=client).ensure_groups()
        _publish_through_the_bridge(server.url, events, tmp_path)
        key = stream_key(cfg.redis_prefix, 0)
        assert client.xlen(key) >= N and stored([e.event_id for e in events]) == 0  # waiting, un-ingested
        # everysec's promise is about the last second: on a busy disk Redis may hold back an AOF write for up
        # to two seconds while an fsync runs. Events accepted before that must all survive the kill.
        time.sleep(3)
        server.kill_9()
        server.start()  # same folder: Redis replays its AOF

        client = redis.Redis.from_url(server.url, decode_responses=True)
        worker = IngestWorker(cfg, consumer="ops-test", redis_client=client)
        stats = worker.run(idle_exit_s=1.0)
        assert stored([e.event_id for e in events]) == N
        assert stats.stored == N and stats.dead == 0
        assert client.xpending(key, GROUP)["pending"] == 0


def test_the_same_kill_without_persistence_loses_the_waiting_events(gate: tuple[int, int], tmp_path: Path) -> None:
    """The control: what the test above would see if the configuration did not persist the streams."""
    gate_id, compound_id = gate
    events = make_events(200, gate_id, compound_id, seed=23)
    with own_redis("--appendonly", "no") as server:
        cfg = dataclasses.replace(settings(), redis_url=server.url)
        _publish_through_the_bridge(server.url, events, tmp_path)
        server.kill_9()
        server.start()
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.exists(stream_key(cfg.redis_prefix, 0)) == 0
