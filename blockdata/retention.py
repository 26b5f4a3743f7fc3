"""Retention by deletion, not hiding, and on a schedule rather than when someone remembers.

- Face templates past their ``expires_at`` (unknown faces: ``GRIDPULSE_STRANGER_RETENTION_DAYS``) are deleted.
- The pseudonyms those strangers left in gate events are erased after the same retention: an event
  older than it keeps its time, gate and direction (the flows) but no longer says which unknown face
  it was, so old sightings cannot be linked to each other or to a later identification.
- Day partitions of raw gate events older than ``GRIDPULSE_EVENT_RETENTION_DAYS`` are dropped whole.

:class:`RetentionSchedule` runs all of this by itself every ``GRIDPULSE_RETENTION_EVERY_HOURS`` (and once
at start) inside the ingest worker (`gridpulse ingest`), the one long-running process every deployment
has; several workers take turns through a PostgreSQL advisory lock, and each run is written to the
audit log as ``system:retention``. `gridpulse retention` runs it once by hand.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import time

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import bridge_settings, settings, trust_settings
from core.viewer import Role, Viewer
from blockdata import audit

_PARTITION = re.compile(r"^access_event_(\d{8})$")
ACTOR = Viewer(None, Role.admin, (), "system:retention")
_LOCK_KEY = 0x67707265  # "gpre": one retention run at a time across workers
log = logging.getLogger("gridpulse.retention")


def purge(session: Session, now: dt.datetime | None = None, event_days: int | None = None,
          stranger_retention: dt.timedelta | None = None) -> dict[str, int]:
    now = now or dt.datetime.now(dt.timezone.utc)
    event_days = settings().event_retention_days if event_days is None else event_days
    stranger_retention = bridge_settings().stranger_retention if stranger_retention is None else stranger_retention
    templates = session.execute(
        text("DELETE FROM face_template WHERE expires_at IS NOT NULL AND expires_at <= :now"), {"now": now}
    ).rowcount
    pseudonyms = session.execute(
        text("UPDATE access_event SET stranger_id = NULL WHERE stranger_id IS NOT NULL AND ts < :cutoff"),
        {"cutoff": now - stranger_retention},
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
    return {"face_templates_deleted": templates, "stranger_pseudonyms_erased": pseudonyms,
            "event_partitions_dropped": dropped}


def take_turn(session: Session, *, wait: bool) -> bool:
    """One retention run at a time (workers, `gridpulse retention`): the lock ends with the transaction."""
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY}).scalar_one())


class RetentionSchedule:
    """Call :meth:`tick` from a long-running loop: it purges when due (at once, then every ``every_s``)."""

    def __init__(self, every_s: float | None = None) -> None:
        self.every_s = trust_settings().retention_every_hours * 3600 if every_s is None else every_s
        self._next = time.monotonic()

    def tick(self) -> dict[str, int] | None:
        """The purge's report when one ran now; None when not due, switched off, or another worker holds it."""
        if self.every_s <= 0 or time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + self.every_s
        from blockdata.db import transaction

        with transaction() as session:
            if not take_turn(session, wait=False):
                return None
            report = purge(session)
            audit.record(session, ACTOR, "retention", "retention:scheduled", **report)
        log.info("retention: %s", report)
        return report
