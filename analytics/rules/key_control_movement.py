"""重点稳控人员: abnormal movement of a key-control person (night, other compounds, absent), for the police.

Moving at night, entering other compounds, or gone for days: the order goes to the police's queue,
not the grid worker's.

Like community correction, it runs only for persons whose key_control tag carries a legal basis still
in force on the day of the sweep (the schema refuses the tag without one; an expired basis removes the
person from the rule). Its work orders go to the police of the jurisdiction (analytics/work_orders.py
POLICE_RULES), and its alerts are not drawn on the maps of other roles.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import PERSON_PLACE, Finding, iso, rows
from core.config import settings
from blockdata.models import Severity

NAME = "key_control_movement"
TAG = "key_control"


def find(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    """The same signs as community correction's rule (its parameters), for the key_control tag."""
    result = rows(
        session,
        f"""
        SELECT p.id, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point, t.legal_basis, t.legal_basis_expiry,
               act.last_any, act.night_events, act.other_compounds, act.unusual_events
        FROM person p
        JOIN person_tag t ON t.person_id = p.id AND t.tag = :tag
             AND t.legal_basis IS NOT NULL AND t.legal_basis_expiry >= CAST(:as_of AS timestamptz)::date
        {PERSON_PLACE}
        CROSS JOIN LATERAL (
          SELECT max(e.ts) AS last_any,
                 count(*) FILTER (WHERE recent AND night) AS night_events,
                 array_remove(array_agg(DISTINCT e.compound_id) FILTER (WHERE recent AND away), NULL) AS other_compounds,
                 (array_agg(e.event_id ORDER BY e.ts DESC) FILTER (WHERE recent AND (night OR away)))[1:10] AS unusual_events
          FROM access_event e
          CROSS JOIN LATERAL (SELECT
              e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :window) AND e.result = 'open' AS recent,
              (extract(hour FROM e.ts AT TIME ZONE :tz) >= :night_start OR extract(hour FROM e.ts AT TIME ZONE :tz) < :night_end) AS night,
              (e.direction = 'in' AND e.compound_id IS DISTINCT FROM b.compound_id) AS away) f
          WHERE e.person_id = p.id AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :lookback)
        ) act
        WHERE act.last_any IS NOT NULL
        """,
        tag=TAG, as_of=as_of, window=p.correction_window_days, lookback=p.lookback_days, tz=settings().timezone,
        night_start=p.night_start_hour, night_end=p.night_end_hour,
    )
    findings = []
    for r in result:
        absent_days = (as_of - r.last_any).total_seconds() / 86400
        reasons = [name for name, hit in (("absent", absent_days >= p.correction_absent_days),
                                          ("night_movement", r.night_events >= p.correction_min_night_events),
                                          ("other_compounds", bool(r.other_compounds))) if hit]
        if not reasons:
            continue
        findings.append(Finding(
            rule=NAME, severity=Severity.high, confidence=round(min(0.95, 0.6 + 0.15 * len(reasons)), 2),
            subject_kind="person", subject_id=r.id, grid_id=r.grid_id, point_wkt=r.point,
            evidence={
                "reasons": reasons, "last_gate_event": iso(r.last_any), "days_absent": round(absent_days, 1),
                "night_events": r.night_events, "other_compounds": sorted(r.other_compounds or []),
                "legal_basis": r.legal_basis, "legal_basis_expiry": r.legal_basis_expiry.isoformat(),
                "events": [str(e) for e in (r.unusual_events or [])], "window_days": p.correction_window_days,
            },
        ))
    return findings
