"""人走注销: a registered floating resident whose temporary residence expires within 3 months and who
shows no local activity (no gate event) for 7 consecutive days → verify the departure at the door."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import PERSON_PLACE, Finding, iso, rows
from blockdata.models import Severity

NAME = "departure"


def find(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    result = rows(
        session,
        f"""
        SELECT p.id, p.temp_residence_expiry, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point, act.last_any, act.last_event
        FROM person p
        {PERSON_PLACE}
        CROSS JOIN LATERAL (
          SELECT max(e.ts) AS last_any, (array_agg(e.event_id ORDER BY e.ts DESC))[1] AS last_event FROM access_event e
          WHERE e.person_id = p.id AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :lookback)
        ) act
        WHERE p.residence_kind = 'floating'
          AND p.temp_residence_expiry >= CAST(:as_of AS timestamptz)::date
          AND p.temp_residence_expiry < (CAST(:as_of AS timestamptz) + make_interval(months => :months))::date
          AND act.last_any IS NOT NULL
          AND act.last_any < CAST(:as_of AS timestamptz) - make_interval(days => :quiet)
        """,
        as_of=as_of, lookback=p.lookback_days, months=p.departure_expiry_months, quiet=p.departure_quiet_days,
    )
    return [
        Finding(
            rule=NAME, severity=Severity.low, confidence=round(min(0.95, 0.6 + 0.03 * (as_of - r.last_any).days), 2),
            subject_kind="person", subject_id=r.id, grid_id=r.grid_id, point_wkt=r.point,
            evidence={
                "action": "verify departure", "temp_residence_expiry": r.temp_residence_expiry.isoformat(),
                "last_gate_event": iso(r.last_any), "quiet_days": (as_of - r.last_any).days,
                "events": [str(r.last_event)],
            },
        )
        for r in result
    ]
