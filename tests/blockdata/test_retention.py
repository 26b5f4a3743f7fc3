"""Retention deletes: expired stranger templates are gone, old day partitions are dropped whole."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text

from blockdata.db import transaction
from blockdata.retention import purge


def test_expired_templates_and_old_partitions_are_deleted(database_url: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    old_day = (now - dt.timedelta(days=400)).date()
    with transaction() as s:
        s.execute(text("SELECT gp_ensure_event_partitions(CAST(:d AS date), CAST(:d AS date))"), {"d": old_day})
        for expires in (now - dt.timedelta(hours=1), now + dt.timedelta(days=3)):
            s.execute(text("""INSERT INTO face_template (stranger_id, library, model_version, embedding, expires_at)
                              VALUES (:s, 'stranger', 'w600k_mbf', :e, :x)"""),
                      {"s": uuid.uuid4(), "e": [0.01] * 512, "x": expires})
        before = s.execute(text("SELECT count(*) FROM face_template WHERE library = 'stranger'")).scalar_one()
    with transaction() as s:
        report = purge(s, now, event_days=180)
    assert report["face_templates_deleted"] >= 1 and report["event_partitions_dropped"] >= 1
    with transaction() as s:
        assert s.execute(text("SELECT count(*) FROM face_template WHERE library = 'stranger'")).scalar_one() == before - report["face_templates_deleted"]
        assert s.execute(text("SELECT count(*) FROM face_template WHERE expires_at <= :n"), {"n": now}).scalar_one() == 0
        assert s.execute(text("SELECT to_regclass(:n)"), {"n": f"access_event_{old_day:%Y%m%d}"}).scalar_one() is None
        assert s.execute(text("SELECT to_regclass(:n)"), {"n": f"access_event_{now.date():%Y%m%d}"}).scalar_one() is not None
