"""重点场所: people flow at a key site in the last hour against the usual flow for that hour of the week."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding, rows
from blockdata.models import Severity

NAME = "keysite_surge"


def find(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    weeks = [as_of - dt.timedelta(weeks=w) for w in range(1, p.surge_weeks + 1)]
    result = rows(
        session,
        """
        WITH flow AS (
          SELECT g.key_site_id, f.minute, f.entries + f.exits AS n
          FROM gate_flow_minute f JOIN gate g ON g.id = f.gate_id
          WHERE g.key_site_id IS NOT NULL
        ), now_hour AS (
          SELECT key_site_id, sum(n) AS n FROM flow
          WHERE minute > CAST(:as_of AS timestamptz) - interval '1 hour' AND minute <= :as_of GROUP BY key_site_id
        ), usual AS (
          SELECT key_site_id, sum(n)::float / :weeks AS n FROM flow
          WHERE EXISTS (SELECT 1 FROM unnest(CAST(:past AS timestamptz[])) AS t(at)
                        WHERE flow.minute > t.at - interval '1 hour' AND flow.minute <= t.at)
          GROUP BY key_site_id
        )
        SELECT k.id, k.name, k.category::text AS category, k.capacity, k.grid_id, ST_AsText(ST_PointOnSurface(k.geom)) AS point,
               nh.n AS current, coalesce(u.n, 0) AS usual
        FROM now_hour nh JOIN key_site k ON k.id = nh.key_site_id LEFT JOIN usual u ON u.key_site_id = nh.key_site_id
        """,
        as_of=as_of, weeks=p.surge_weeks, past=weeks,
    )
    findings = []
    for r in result:
        if r.current < max(p.surge_ratio * r.usual, r.usual + p.surge_min_excess):
            continue
        ratio = r.current / max(r.usual, 1.0)
        findings.append(
            Finding(
                rule=NAME, severity=Severity.critical if ratio >= 2 * p.surge_ratio else Severity.high,
                confidence=round(min(0.95, 0.5 + 0.1 * ratio), 2),
                subject_kind="key_site", subject_id=r.id, grid_id=r.grid_id, point_wkt=r.point,
                evidence={"site": r.name, "category": r.category, "last_hour": int(r.current),
                          "usual_same_hour": round(r.usual, 1), "ratio": round(ratio, 2), "weeks_compared": p.surge_weeks,
                          "window_end": as_of.isoformat()},
            )
        )
    return findings
