"""Retention by deletion, not hiding: expired face templates (unknown faces after 7 days) are deleted,
and day partitions of raw gate events older than the configured retention are dropped whole."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import settings

_PARTITION = re.compile(r"^access_event_(\d{8})$")


def purge(session: Session, now: dt.datetime | None = None, event_days: int | None = None) -> dict[str, int]:
    now = now or dt.datetime.now(dt.timezone.utc)
    event_days = settings().event_retention_days if event_days is None else event_days
    templates = session.execute(
        text("DELETE FROM face_template WHERE expires_at IS NOT NULL AND expires_at <= :now"), {"now": now}
    ).rowcount
    cutoff = (now - dt.timedelta(days=event_days)).date()
    dropped = 0
    for (name,) in session.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'access_event'::regclass"
    )).all():
        match = _PARTITION.match(name)
        if match and dt.datetime.strptime(match.group(1), "%Y%m%d").date() < cutoff:
            session.execute(text(f'DROP TABLE "{name}"'))
            dropped += 1
    return {"face_templates_deleted": templates, "event_partitions_dropped": dropped}
