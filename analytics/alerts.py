"""Findings → alerts, de-duplicated: one live (open or dispatched) alert per rule and subject.

A finding that fires again updates its live alert (evidence, confidence, count) instead of
raising a second one. After a person dismissed an alert at the door, the same finding stays quiet
for a cool-down (DISMISS_COOLDOWN) — stated here, counted per rule, never learnt silently.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.rules.base import Finding

DISMISS_COOLDOWN = dt.timedelta(days=7)

_UPSERT = text(
    """
    INSERT INTO alert (rule, severity, confidence, subject_kind, subject_id, grid_id, geom, evidence, status, dedup_key,
                       created_at, updated_at)
    VALUES (:rule, CAST(:severity AS severity), :confidence, :subject_kind, :subject_id, :grid_id,
            ST_GeomFromText(:point, 4326), CAST(:evidence AS jsonb), 'open', :dedup_key, :now, :now)
    ON CONFLICT (dedup_key) WHERE status IN ('open', 'dispatched') DO UPDATE
      SET evidence = EXCLUDED.evidence, confidence = EXCLUDED.confidence, severity = EXCLUDED.severity,
          fired_count = alert.fired_count + 1, updated_at = EXCLUDED.updated_at
    RETURNING id, (xmax = 0) AS inserted
    """
)

_RECENTLY_DISMISSED = text(
    "SELECT dedup_key FROM alert WHERE status = 'dismissed' AND updated_at > :since AND dedup_key = ANY(:keys)"
)


@dataclass(frozen=True)
class Raised:
    new_alert_ids: list[int]
    refreshed: int
    suppressed: int


def raise_alerts(session: Session, findings: Iterable[Finding], now: dt.datetime) -> Raised:
    findings = list(findings)
    quiet = set(
        session.execute(
            _RECENTLY_DISMISSED, {"since": now - DISMISS_COOLDOWN, "keys": [f.dedup_key for f in findings]}
        ).scalars()
    )
    new_ids: list[int] = []
    refreshed = 0
    for f in findings:
        if f.dedup_key in quiet:
            continue
        row = session.execute(
            _UPSERT,
            {
                "rule": f.rule, "severity": f.severity.value, "confidence": f.confidence, "subject_kind": f.subject_kind,
                "subject_id": f.subject_id, "grid_id": f.grid_id, "point": f.point_wkt,
                "evidence": json.dumps(f.evidence, ensure_ascii=False, default=str), "dedup_key": f.dedup_key, "now": now,
            },
        ).one()
        if row.inserted:
            new_ids.append(row.id)
        else:
            refreshed += 1
    return Raised(new_ids, refreshed, sum(1 for f in findings if f.dedup_key in quiet))


def dismissals_per_rule(session: Session) -> dict[str, int]:
    """How often people at the door found nothing: the rule's false alarms, for whoever tunes it."""
    return dict(session.execute(text("SELECT rule, count(*) FROM alert WHERE status = 'dismissed' GROUP BY rule")).all())
