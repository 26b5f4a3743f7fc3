"""社区矫正人员: abnormal movement — absent for days, moving at night, entering other compounds.

Runs only for persons whose tag carries a legal basis still in force on the day of the sweep
(the schema refuses the tag without one); a basis that expired removes the person from the rule.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import PERSON_PLACE, Finding, iso, rows
from core.config import settings
from blockdata.models import Severity

NAME = "correction_movement"


def find(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    result = rows(
        session,
        f"""
        SELECT p.id, b.grid_id, b.compound_id AS home_compound, ST_AsText(ST_PointOnSurface(b.geom)) AS point,
               t.legal_basis, t.legal_basis_expiry, act.*
        FROM person p
        JOIN person_tag t ON t.person_id = p.id AND t.tag = 'community_correction'
             AND t.legal_basis IS NOT NULL AND t.legal_basis_expiry >= CAST(:as_of AS timestamptz)::date
        {PERSON_PLACE}
        CROSS JOIN LATERAL (
          SELECT max(e.ts) AS last_any,
                 (array_agg(e.event_id ORDER BY e.ts DESC) FILTER (
                   WHERE e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :window) AND e.result = 'open'
                     AND ((extract(hour FROM e.ts AT TIME ZONE :tz) >= :night_start OR extract(hour FROM e.ts AT TIME ZONE :tz) < :night_end)
                          OR (e.direction = 'in' AND e.compound_id IS DISTINCT FROM b.compound_id))))[1:10] AS unusual_events,
                 count(*) FILTER (
                   WHERE e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :window) AND e.result = 'open'
                     AND (extract(hour FROM e.ts AT TIME ZONE :tz) >= :night_start
                          OR extract(hour FROM e.ts AT TIME ZONE :tz) < :night_end)) AS night_events,
                 array_remove(array_agg(DISTINCT e.compound_id) FILTER (
                   WHERE e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :window) AND e.result = 'open'
                     AND e.direction = 'in' AND e.compound_id IS DISTINCT FROM b.compound_id), NULL) AS other_compounds
          FROM access_event e
          WHERE e.person_id = p.id AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :lookback)
        ) act
        WHERE act.last_any IS NOT NULL
        """,
        as_of=as_of, window=p.correction_window_days, lookback=p.lookback_days, tz=settings().timezone,
        night_start=p.night_start_hour, night_end=p.night_end_hour,
    )
    findings = []
    for r in result:
        reasons = []
        absent_days = (as_of - r.last_any).total_seconds() / 86400
        if absent_days >= p.correction_absent_days:
            reasons.append("absent")
        if r.night_events >= p.correction_min_night_events:
            reasons.append("night_movement")
        if r.other_compounds:
            reasons.append("other_compounds")
        if not reasons:
            continue
        findings.append(
            Finding(
                rule=NAME, severity=Severity.high, confidence=round(min(0.95, 0.6 + 0.15 * len(reasons)), 2),
                subject_kind="person", subject_id=r.id, grid_id=r.grid_id, point_wkt=r.point,
                evidence={
                    "reasons": reasons, "last_gate_event": iso(r.last_any), "days_absent": round(absent_days, 1),
                    "night_events": r.night_events, "other_compounds": sorted(r.other_compounds or []),
                    "legal_basis": r.legal_basis, "legal_basis_expiry": r.legal_basis_expiry.isoformat(),
                    "events": [str(e) for e in (r.unusual_events or [])],
                    "window_days": p.correction_window_days,
                },
            )
        )
    return findings
