"""人来登记: someone who lives here but is not registered, by a confidence that weighs several sources.

Sources, each with a weight for its credibility, scaled by how complete its evidence is:
- repeated unknown-face sightings of one pseudonymous stranger at one compound (distinct days);
- frequent visitor passes for one visitor to the same dwelling;
- a utility account in a name that matches nobody registered at the dwelling;
- and no self-declaration for the dwelling (a declared person is already being verified).
The sum is the confidence; at or above the threshold the finding asks to register the person.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding, rows
from blockdata.models import Severity

NAME = "arrival_registration"


def _stranger_subject(stranger: uuid.UUID) -> int:
    return int.from_bytes(stranger.bytes[:8], "big") >> 1  # a positive bigint for alert.subject_id


def find(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    findings = [*_strangers(session, as_of, p), *_dwellings(session, as_of, p)]
    return [f for f in findings if f.confidence >= p.registration_threshold]


def _strangers(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    result = rows(
        session,
        """
        SELECT e.stranger_id, e.compound_id, count(DISTINCT (e.ts AT TIME ZONE 'UTC')::date) AS days, count(*) AS sightings,
               min(e.ts) AS first_seen, max(e.ts) AS last_seen, c.geom IS NOT NULL AS has_geom,
               (array_agg(e.event_id ORDER BY e.ts DESC))[1:10] AS events,
               ST_AsText(ST_PointOnSurface(c.geom)) AS point,
               (SELECT g.id FROM grid g WHERE ST_Covers(g.geom, ST_PointOnSurface(c.geom)) LIMIT 1) AS grid_id
        FROM access_event e JOIN compound c ON c.id = e.compound_id
        WHERE e.stranger_id IS NOT NULL AND e.ts <= :as_of
          AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :window)
        GROUP BY e.stranger_id, e.compound_id, c.geom
        HAVING count(DISTINCT (e.ts AT TIME ZONE 'UTC')::date) >= :min_days
        """,
        as_of=as_of, window=p.stranger_window_days, min_days=p.stranger_min_days,
    )
    out = []
    for r in result:
        completeness = min(1.0, r.days / (p.stranger_min_days + 2))
        confidence = p.weight_sightings * completeness + p.weight_no_declaration
        out.append(
            Finding(
                rule=NAME, severity=Severity.medium, confidence=round(min(confidence, 0.99), 2),
                subject_kind="stranger", subject_id=_stranger_subject(r.stranger_id), grid_id=r.grid_id,
                point_wkt=r.point, dedup_subject=str(r.stranger_id),
                evidence={
                    "action": "should register", "stranger_id": str(r.stranger_id), "compound_id": r.compound_id,
                    "sources": {"sightings": {"days": r.days, "count": r.sightings, "first": r.first_seen.isoformat(),
                                               "last": r.last_seen.isoformat()}},
                    "events": [str(e) for e in r.events],
                },
            )
        )
    return out


def _dwellings(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    result = rows(
        session,
        """
        WITH passes AS (
          SELECT dwelling_id, max(n) AS max_passes FROM (
            SELECT dwelling_id, visitor_id_hash, count(*) AS n FROM visitor_pass
            WHERE visitor_id_hash IS NOT NULL AND valid_from <= :as_of AND valid_from > CAST(:as_of AS timestamptz) - interval '30 days'
            GROUP BY dwelling_id, visitor_id_hash) v
          GROUP BY dwelling_id HAVING max(n) >= :frequent
        ), names AS (
          SELECT DISTINCT ON (u.dwelling_id) u.dwelling_id, u.account_name
          FROM utility_reading u
          WHERE u.account_name IS NOT NULL AND u.day <= CAST(:as_of AS timestamptz)::date
          ORDER BY u.dwelling_id, u.day DESC
        ), new_name AS (
          SELECT n.dwelling_id, n.account_name FROM names n
          WHERE NOT EXISTS (SELECT 1 FROM person p WHERE p.home_dwelling_id = n.dwelling_id AND p.name = n.account_name)
            AND NOT EXISTS (SELECT 1 FROM ownership o JOIN person p ON p.id = o.person_id
                            WHERE o.dwelling_id = n.dwelling_id AND p.name = n.account_name)
            AND NOT EXISTS (SELECT 1 FROM access_grant g JOIN person p ON p.id = g.grantee_person_id
                            WHERE g.dwelling_id = n.dwelling_id AND p.name = n.account_name AND g.revoked_at IS NULL)
        ), candidates AS (
          SELECT dwelling_id FROM passes UNION SELECT dwelling_id FROM new_name
        )
        SELECT c.dwelling_id, ps.max_passes, nn.account_name IS NOT NULL AS new_account_name,
               EXISTS (SELECT 1 FROM self_declaration s WHERE s.dwelling_id = c.dwelling_id AND s.status <> 'rejected') AS declared,
               b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point
        FROM candidates c
        JOIN dwelling d ON d.id = c.dwelling_id JOIN building b ON b.id = d.building_id
        LEFT JOIN passes ps ON ps.dwelling_id = c.dwelling_id
        LEFT JOIN new_name nn ON nn.dwelling_id = c.dwelling_id
        """,
        as_of=as_of, frequent=p.frequent_visitor_passes,
    )
    out = []
    for r in result:
        if r.declared:
            continue  # a self-declaration is already on its way to a doorstep verification
        sources: dict[str, object] = {}
        confidence = p.weight_no_declaration
        if r.max_passes:
            sources["visitor_passes"] = r.max_passes
            confidence += p.weight_passes * min(1.0, r.max_passes / (p.frequent_visitor_passes * 2))
        if r.new_account_name:
            sources["utility_account_in_new_name"] = True
            confidence += p.weight_utility_name
        out.append(
            Finding(
                rule=NAME, severity=Severity.medium, confidence=round(min(confidence, 0.99), 2),
                subject_kind="dwelling", subject_id=r.dwelling_id, grid_id=r.grid_id, point_wkt=r.point,
                evidence={"action": "should register", "sources": sources, "self_declaration": False},
            )
        )
    return out
