"""群租房: more occupants than a dwelling's floor area (or rooms) allows.

Occupants are everyone the data ties to the dwelling now: residents, household members, grantees
whose grant is in force, and visitors who come on passes so often that they live there. Presets:
``area_cap`` (at most floor(area / m² per person), at least 1) or ``shanghai`` (< 5 m² per person
or > 2 people per room). A large family in a large flat stays under either cap.
"""
from __future__ import annotations

import datetime as dt
import math

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding, rows
from blockdata.models import Severity

NAME = "group_rental"


def find(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    result = rows(
        session,
        """
        WITH occupant AS (
          SELECT home_dwelling_id AS dwelling_id, id::text AS who, 'resident' AS source FROM person WHERE home_dwelling_id IS NOT NULL
          UNION
          SELECT h.dwelling_id, m.person_id::text, 'household' FROM household_member m JOIN household h ON h.id = m.household_id
          UNION
          SELECT g.dwelling_id, g.grantee_person_id::text, 'grant' FROM access_grant g
          WHERE g.revoked_at IS NULL AND g.valid_from <= :as_of AND (g.valid_to IS NULL OR g.valid_to > :as_of)
          UNION
          SELECT v.dwelling_id, 'visitor:' || encode(v.visitor_id_hash, 'hex'), 'frequent_visitor' FROM visitor_pass v
          WHERE v.visitor_id_hash IS NOT NULL AND v.valid_from > CAST(:as_of AS timestamptz) - interval '30 days' AND v.valid_from <= :as_of
          GROUP BY v.dwelling_id, v.visitor_id_hash HAVING count(*) >= :frequent
        ), per_dwelling AS (
          SELECT dwelling_id, count(DISTINCT who) AS occupants,
                 jsonb_object_agg(source, n) AS by_source
          FROM (SELECT dwelling_id, who, source, count(*) OVER (PARTITION BY dwelling_id, source) AS n FROM occupant) o
          GROUP BY dwelling_id
        )
        SELECT d.id, d.area_m2::float AS area, d.rooms, pd.occupants, pd.by_source, b.grid_id,
               ST_AsText(ST_PointOnSurface(b.geom)) AS point
        FROM per_dwelling pd JOIN dwelling d ON d.id = pd.dwelling_id JOIN building b ON b.id = d.building_id
        WHERE pd.occupants > 1
        """,
        as_of=as_of, frequent=p.frequent_visitor_passes,
    )
    findings = []
    for r in result:
        if p.group_rental_mode == "shanghai":
            area_each = r.area / r.occupants
            over = area_each < p.shanghai_min_area_per_person_m2 or r.occupants > p.shanghai_max_people_per_room * r.rooms
            cap = min(math.floor(r.area / p.shanghai_min_area_per_person_m2), p.shanghai_max_people_per_room * r.rooms)
        else:
            cap = max(1, math.floor(r.area / p.area_per_person_m2))
            over = r.occupants > cap
        if not over:
            continue
        ratio = r.occupants / max(cap, 1)
        findings.append(
            Finding(
                rule=NAME, severity=Severity.high if ratio >= 2 else Severity.medium,
                confidence=round(min(0.95, 0.5 + 0.2 * ratio), 2),
                subject_kind="dwelling", subject_id=r.id, grid_id=r.grid_id, point_wkt=r.point,
                evidence={
                    "occupants": r.occupants, "cap": cap, "area_m2": r.area, "rooms": r.rooms,
                    "by_source": r.by_source, "mode": p.group_rental_mode,
                },
            )
        )
    return findings
