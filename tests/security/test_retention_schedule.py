"""Issue #16 item 18: retention runs by itself, and what expired is gone.

The real long-running ingest worker (`gridpulse ingest`, no --exit-when-idle) is started with a short
schedule; nobody runs `gridpulse retention`. Within its first ticks an expired stranger template is
deleted and the pseudonym that stranger left in an old gate event is erased — while a recent event
keeps its stranger and a live template stays; a template that expires later goes at a later tick.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import uuid

from sqlalchemy import text

from core.config import settings
from blockdata.db import transaction
from tests import places as P
from tests.browser import ROOT
from tests.security.dashboard_app import audit_since, last_audit_id
from tests.streams import worker_env

EVERY_S = 2.0


def _template(stranger: uuid.UUID, expires: dt.datetime) -> None:
    with transaction() as s:
        s.execute(text("""INSERT INTO face_template (stranger_id, library, model_version, embedding, expires_at)
                          VALUES (:s, 'stranger', 'w600k_mbf', :e, :x)"""), {"s": stranger, "e": [0.02] * 512, "x": expires})


def _event(stranger: uuid.UUID, ts: dt.datetime, gate: int, compound: int) -> uuid.UUID:
    event = uuid.uuid4()
    with transaction() as s:
        s.execute(text("SELECT gp_ensure_event_partitions(CAST(:d AS date), CAST(:d AS date))"), {"d": ts.date()})
        s.execute(text("""INSERT INTO access_event (event_id, ts, gate_id, compound_id, direction, method, result, stranger_id)
                          VALUES (:id, :ts, :g, :c, 'in', 'face', 'deny', :s)"""),
                  {"id": event, "ts": ts, "g": gate, "c": compound, "s": stranger})
    return event


def _templates(stranger: uuid.UUID) -> int:
    with transaction() as s:
        return s.execute(text("SELECT count(*) FROM face_template WHERE stranger_id = :s"), {"s": stranger}).scalar_one()


def _stranger_of(event: uuid.UUID) -> uuid.UUID | None:
    with transaction() as s:
        return s.execute(text("SELECT stranger_id FROM access_event WHERE event_id = :e"), {"e": event}).scalar_one()


def _until(predicate, seconds: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return predicate()


def test_the_ingest_worker_purges_expired_strangers_on_its_own(places: P.Places) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    gate, compound = _gate()
    old_stranger, new_stranger, later_stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    _template(old_stranger, now - dt.timedelta(hours=1))  # expired an hour ago
    _template(new_stranger, now + dt.timedelta(days=6))
    old_event = _event(old_stranger, now - dt.timedelta(days=8), gate, compound)  # past the 7-day retention
    new_event = _event(new_stranger, now - dt.timedelta(days=1), gate, compound)
    first = last_audit_id()
    prefix = f"{settings().redis_prefix}ret{uuid.uuid4().hex[:6]}:"
    env = worker_env(prefix, settings().redis_url, GRIDPULSE_RETENTION_EVERY_HOURS=str(EVERY_S / 3600),
                     GRIDPULSE_STRANGER_RETENTION_DAYS="7")
    worker = subprocess.Popen([sys.executable, "-m", "cli", "ingest", "--consumer", "retention-test"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert _until(lambda: _templates(old_stranger) == 0, 30), "the expired template was not deleted"
        assert _until(lambda: _stranger_of(old_event) is None, 10), "the old event still names its stranger"
        assert _stranger_of(new_event) == new_stranger and _templates(new_stranger) == 1  # within retention: kept
        # a template that expires now goes at a later tick, with nobody asking
        _template(later_stranger, dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
        assert _until(lambda: _templates(later_stranger) == 0, 20), "the schedule did not run again"
        assert worker.poll() is None  # a long-running process, still running
    finally:
        worker.terminate()
        out = worker.communicate(timeout=30)[0].decode(errors="replace")
    runs = audit_since(first, "retention", "system:retention")
    assert len(runs) >= 2, out[-2000:]
    assert sum(r.detail["face_templates_deleted"] for r in runs) >= 2
    assert sum(r.detail["stranger_pseudonyms_erased"] for r in runs) >= 1


def _gate() -> tuple[int, int]:
    with transaction() as s:
        return P.compound_gate(s)
