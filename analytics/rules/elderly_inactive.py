"""独居老人/残疾人: an elderly person living alone or a disabled person who has not gone out for N days.

Measured as elapsed time since the last exit, so a person who went out at 23:59 is not "absent"
for that whole day. Only people seen at a gate in the look-back window are judged: someone never
seen is a gap in the data (no gate at their compound, or they use one we do not see), not an alert.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import PERSON_PLACE, Finding, iso, rows
from blockdata.models import Severity

NAME = "elderly_inactive"


def find(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    result = rows(
        session,
        f"""
        SELECT p.id, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point,
               array_agg(DISTINCT t.tag::text) AS tags, act.last_out, act.last_out_event, act.last_any, act.n_recent_in
        FROM person p
        JOIN person_tag t ON t.person_id = p.id AND t.tag IN ('elderly_alone', 'disabled')
             AND (t.legal_basis_expiry IS NULL OR t.legal_basis_expiry >= CAST(:as_of AS timestamptz)::date)
        {PERSON_PLACE}
        CROSS JOIN LATERAL (
          SELECT max(e.ts) FILTER (WHERE e.direction = 'out' AND e.result = 'open') AS last_out,
                 (array_agg(e.event_id ORDER BY e.ts DESC) FILTER (WHERE e.direction = 'out' AND e.result = 'open'))[1] AS last_out_event,
                 max(e.ts) AS last_any,
                 count(*) FILTER (WHERE e.direction = 'in' AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => 3)) AS n_recent_in
          FROM access_event e
          WHERE e.person_id = p.id AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :lookback)
        ) act
        WHERE act.last_any IS NOT NULL
          AND coalesce(act.last_out, '-infinity') < CAST(:as_of AS timestamptz) - make_interval(secs => :inactive_s)
        GROUP BY p.id, b.grid_id, b.geom, act.last_out, act.last_out_event, act.last_any, act.n_recent_in
        """,
        as_of=as_of, lookback=p.lookback_days, inactive_s=p.inactive_days * 86400,
    )
    findings = []
    for r in result:
        days = (as_of - r.last_out).total_seconds() / 86400 if r.last_out else None
        over = (days or p.lookback_days) - p.inactive_days
        findings.append(
            Finding(
                rule=NAME,
                severity=Severity.high if days is None or days >= 2 * p.inactive_days else Severity.medium,
                confidence=round(min(0.99, 0.7 + 0.1 * over), 2),
                subject_kind="person", subject_id=r.id, grid_id=r.grid_id, point_wkt=r.point,
                evidence={
                    "tags": sorted(r.tags), "last_exit": iso(r.last_out), "last_gate_event": iso(r.last_any),
                    "events": [str(r.last_out_event)] if r.last_out_event else [],
                    "days_without_exit": round(days, 1) if days is not None else None,
                    "threshold_days": p.inactive_days,
                },
            )
        )
    return findings
