"""访客超时: a visitor who entered on a pass and has not left within 24 hours."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding, rows
from blockdata.models import Severity

NAME = "visitor_overstay"


def find(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    result = rows(
        session,
        """
        SELECT DISTINCT ON (e.pass_id) e.pass_id, e.event_id, e.ts AS entered, e.compound_id, v.dwelling_id, v.visitor_name,
               b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point
        FROM access_event e
        JOIN visitor_pass v ON v.id = e.pass_id
        JOIN dwelling d ON d.id = v.dwelling_id JOIN building b ON b.id = d.building_id
        WHERE e.method = 'visitor_qr' AND e.direction = 'in' AND e.result = 'open'
          AND e.ts <= CAST(:as_of AS timestamptz) - make_interval(secs => :overstay_s)
          AND e.ts > CAST(:as_of AS timestamptz) - interval '7 days'
          AND NOT EXISTS (SELECT 1 FROM access_event x WHERE x.pass_id = e.pass_id AND x.direction = 'out'
                          AND x.ts > e.ts AND x.ts <= :as_of)
        ORDER BY e.pass_id, e.ts DESC
        """,
        as_of=as_of, overstay_s=p.overstay_hours * 3600,
    )
    return [
        Finding(
            rule=NAME, severity=Severity.low, confidence=0.7, subject_kind="dwelling", subject_id=r.dwelling_id,
            grid_id=r.grid_id, point_wkt=r.point, dedup_subject=f"pass:{r.pass_id}",
            evidence={"pass_id": str(r.pass_id), "entered": r.entered.isoformat(), "compound_id": r.compound_id,
                      "events": [str(r.event_id)],
                      "hours_inside": round((as_of - r.entered).total_seconds() / 3600, 1)},
        )
        for r in result
    ]
