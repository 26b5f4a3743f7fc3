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
    INSERT INTO alert (rule, rule_version, severity, confidence, subject_kind, subject_id, grid_id, geom, evidence, status,
                       dedup_key, created_at, updated_at)
    VALUES (:rule, :version, CAST(:severity AS severity), :confidence, :subject_kind, :subject_id, :grid_id,
            ST_GeomFromText(:point, 4326), CAST(:evidence AS jsonb), 'open', :dedup_key, :now, :now)
    ON CONFLICT (dedup_key) WHERE status IN ('open', 'dispatched') DO UPDATE
      SET evidence = EXCLUDED.evidence, confidence = EXCLUDED.confidence, severity = EXCLUDED.severity,
          rule_version = EXCLUDED.rule_version,
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
                "rule": f.rule, "version": f.rule_version, "severity": f.severity.value, "confidence": f.confidence, "subject_kind": f.subject_kind,
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


def doorstep_precision(session: Session) -> dict[tuple[str, str], dict[str, float | int | None]]:
    """Per rule and version, what the workers found at the door: confirmed (or corrected) against dismissed.

    This is the rules' measured precision on real cases: every alert ends at a door, and the worker's
    finding is the label. Alerts still waiting for a finding are counted apart (``pending``).
    """
    result = session.execute(text(
        """SELECT a.rule, coalesce(a.rule_version, '1') AS version,
                  count(*) FILTER (WHERE w.outcome IN ('confirmed', 'corrected')) AS confirmed,
                  count(*) FILTER (WHERE w.outcome = 'dismissed' OR (w.id IS NULL AND a.status = 'dismissed')) AS dismissed,
                  count(*) FILTER (WHERE w.outcome IS NULL AND a.status IN ('open', 'dispatched')) AS pending
           FROM alert a LEFT JOIN work_order w ON w.alert_id = a.id
           GROUP BY 1, 2 ORDER BY 1, 2"""
    ))
    out: dict[tuple[str, str], dict[str, float | int | None]] = {}
    for r in result:
        judged = r.confirmed + r.dismissed
        out[(r.rule, r.version)] = {"confirmed": r.confirmed, "dismissed": r.dismissed, "pending": r.pending,
                                    "precision": round(r.confirmed / judged, 3) if judged else None}
    return out
