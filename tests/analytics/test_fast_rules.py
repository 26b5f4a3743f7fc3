"""Events arriving through the stream wake the fast rules: a crowd at a key site becomes an alert and a
work order within seconds, with no sweep scheduled."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid

import redis
from sqlalchemy import select, text

from analytics.watch import watch
from core.config import settings
from core.events import GateEvent, stream_key, uuid7
from blockdata import registry
from blockdata.db import transaction
from blockdata.models import Alert, GateKind, KeySite, KeySiteCategory, WorkOrder
from ingest.worker import IngestWorker
from tests import places as P
from tests.streams import publish


def test_a_key_site_surge_arriving_live_raises_an_alert(database_url: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with transaction() as s:
        pl = P.build(s)
        site = KeySite(code="XW-KS9", name="测试车站", category=KeySiteCategory.station, grid_id=pl.grid_a2,
                       geom="SRID=4326;POLYGON((118.812 32.042,118.815 32.042,118.815 32.045,118.812 32.045,118.812 32.042))")
        s.add(site)
        s.flush()
        gate = registry.add_gate(s, code="XW-KS9-C1", name="进站口", kind=GateKind.counter, key_site_id=site.id, geom="POINT(118.812 32.043)")
        for week in (1, 2, 3):  # the usual flow at this hour: ~10 people
            s.execute(text("SELECT gp_ensure_event_partitions(CAST(:d AS date) - 1, CAST(:d AS date) + 1)"),
                      {"d": (now - dt.timedelta(weeks=week)).date()})
            s.execute(text("INSERT INTO gate_flow_minute (gate_id, minute, entries) VALUES (:g, date_trunc('minute', CAST(:m AS timestamptz)), 10)"),
                      {"g": gate.id, "m": now - dt.timedelta(weeks=week, minutes=20)})
        site_id, gate_id = site.id, gate.id
    prefix = f"gptest:f{uuid.uuid4().hex[:6]}:"
    cfg = dataclasses.replace(settings(), redis_prefix=prefix)
    sweeps: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=lambda: sweeps.append(watch(stop.is_set, cfg=cfg, min_interval_s=0.1)))
    watcher.start()
    time.sleep(1.2)  # the watcher is listening for new notices only
    crowd = [
        GateEvent(event_id=uuid7(int((now - dt.timedelta(minutes=i % 50)).timestamp() * 1000)),
                  ts=now - dt.timedelta(minutes=i % 50), gate_id=gate_id, compound_id=None, key_site_id=site_id,
                  direction="in", method="count", result="open")
        for i in range(300)
    ]
    publish(redis.Redis.from_url(cfg.redis_url), stream_key(prefix, 0), crowd)
    IngestWorker(cfg, consumer="t").run(idle_exit_s=0.5)
    deadline = time.monotonic() + 20
    alert = None
    while time.monotonic() < deadline and alert is None:
        with transaction() as s:
            alert = s.scalars(select(Alert).where(Alert.rule == "keysite_surge", Alert.subject_id == site_id)).first()
        time.sleep(0.2)
    stop.set()
    watcher.join(timeout=10)
    assert alert is not None, "no keysite_surge alert after the crowd arrived"
    assert alert.evidence["last_hour"] == 300 and alert.evidence["usual_same_hour"] == 10
    with transaction() as s:
        assert s.scalars(select(WorkOrder).where(WorkOrder.alert_id == alert.id)).one().kind == "keysite_surge"
    client = redis.Redis.from_url(cfg.redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
