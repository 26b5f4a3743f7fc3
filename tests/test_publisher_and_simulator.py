"""Gate events reach their stream, or wait in the outbox while Redis is down and arrive exactly once,
in order, with their ids; the simulator moves the seeded street through the real pipeline."""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import redis
from sqlalchemy import text

from core.config import settings
from core.events import parse_fields, stream_key
from gate_bridge.publisher import EventPublisher
from gate_bridge.simulator import LOCAL, Simulator
from geodata.db import transaction
from geodata.synthetic import run_seed
from ingest.live_state import LiveState
from ingest.worker import IngestWorker
from tests.streams import make_events, private_redis


def test_outbox_keeps_order_and_ids_while_redis_is_down(tmp_path: Path) -> None:
    events = make_events(300, gate_id=1, compound_id=1, seed=21)
    events.sort(key=lambda e: e.event_id)
    with private_redis() as (port, restart):
        cfg = dataclasses.replace(settings(), redis_url=f"redis://127.0.0.1:{port}/0", redis_prefix="gptest:ob:")
        publisher = EventPublisher(cfg, outbox_path=tmp_path / "outbox.sqlite3")
        assert all(publisher.publish(e) for e in events[:100])
        client = redis.Redis(port=port)
        client.shutdown(nosave=False)  # the platform goes away
        assert not any(publisher.publish(e) for e in events[100:250])
        assert publisher.outbox_depth() == 150
        restart(down_s=0.2)  # it comes back (AOF kept the first 100)
        publisher.client = redis.Redis(port=port, decode_responses=True)
        for e in events[250:]:
            publisher.publish(e)  # queued behind the outbox, which is replayed first
        assert publisher.flush() and publisher.outbox_depth() == 0
        entries = redis.Redis(port=port).xrange(stream_key("gptest:ob:", 0))
    ids = [parse_fields(fields).event_id for _, fields in entries]
    assert ids == [e.event_id for e in events]  # every event, once, in order, with its original id


def test_the_simulated_street_flows_into_postgis_and_the_live_map(database_url: str, tmp_path: Path) -> None:
    run_seed(preset="tiny", seed=3, anchor=dt.date.today(), reset=True)
    prefix = f"gptest:s{uuid.uuid4().hex[:6]}:"
    cfg = dataclasses.replace(settings(), redis_prefix=prefix)
    sim = Simulator(EventPublisher(cfg, outbox_path=tmp_path / "o.sqlite3"), speed=60, seed=5)
    morning = dt.datetime.now(LOCAL).replace(hour=8, minute=0).astimezone(dt.timezone.utc)
    published = sim.step(morning, sim_minutes=60)  # the 8 o'clock rush
    assert published > 50
    with transaction() as s:
        before = s.execute(text("SELECT count(*) FROM access_event")).scalar_one()
    stats = IngestWorker(cfg, consumer="t").run(idle_exit_s=0.5)
    assert stats.stored == published and stats.dead == 0
    with transaction() as s:
        assert s.execute(text("SELECT count(*) FROM access_event")).scalar_one() == before + published
    outs = sum(1 for r in sim.residents if not r.inside)
    assert outs > 0.3 * len([r for r in sim.residents if r.role in ("commuter", "student")])
    client = redis.Redis.from_url(cfg.redis_url)
    net = LiveState(client, prefix).net_flow("compound")
    assert net and sum(net.values()) < 0  # the morning rush empties the compounds
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
