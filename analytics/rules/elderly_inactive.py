"""独居老人/残疾人: an elderly person living alone or a disabled person not seen out and about for N days.

Activity is activity: any person-linked passage (face, code, card, guard's register, a pass) at any
gate of any compound or key site. An entry proves an earlier outing just as an exit does, so the
clock runs from the last passage of either direction. A head count names nobody and counts neither
way. Someone never seen at a gate in the look-back is a gap in the data (no gate where they live, a
gate we do not see), not an alert.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import ACTIVITY, PERSON_PLACE, Finding, ids_of, iso, only, passage_words, rows
from blockdata.models import Severity

NAME = "elderly_inactive"
VERSION = "2"


def find(session: Session, as_of: dt.datetime, p: RuleParams, scope=None) -> list[Finding]:  # noqa: ANN001
    persons = ids_of(scope.persons) if scope is not None else None
    result = rows(
        session,
        f"""
        SELECT p.id, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point,
               array_agg(DISTINCT t.tag::text) AS tags, last.ts, last.event_id, last.direction, last.method, last.gate
        FROM person p
        JOIN person_tag t ON t.person_id = p.id AND t.tag IN ('elderly_alone', 'disabled')
             AND (t.legal_basis_expiry IS NULL OR t.legal_basis_expiry >= CAST(:as_of AS timestamptz)::date)
        {PERSON_PLACE}
        CROSS JOIN LATERAL (
          SELECT e.ts, e.event_id, e.direction::text AS direction, e.method::text AS method, g.name AS gate
          FROM access_event e LEFT JOIN gate g ON g.id = e.gate_id
          WHERE {ACTIVITY} AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :lookback)
          ORDER BY e.ts DESC LIMIT 1
        ) last
        WHERE last.ts < CAST(:as_of AS timestamptz) - make_interval(secs => :inactive_s){only(persons, 'p.id', 'persons')}
        GROUP BY p.id, b.grid_id, b.geom, last.ts, last.event_id, last.direction, last.method, last.gate
        """,
        as_of=as_of, lookback=p.lookback_days, inactive_s=p.inactive_days * 86400, persons=persons,
    )
    findings = []
    for r in result:
        days = (as_of - r.ts).total_seconds() / 86400
        findings.append(
            Finding(
                rule=NAME, rule_version=VERSION,
                severity=Severity.high if days >= 2 * p.inactive_days else Severity.medium,
                confidence=round(min(0.99, 0.7 + 0.1 * (days - p.inactive_days)), 2),
                subject_kind="person", subject_id=r.id, grid_id=r.grid_id, point_wkt=r.point,
                evidence={
                    "tags": sorted(r.tags), "last_seen": iso(r.ts), "last_seen_direction": r.direction,
                    "last_seen_method": r.method, "events": [str(r.event_id)],
                    "days_without_activity": round(days, 1), "threshold_days": p.inactive_days,
                    "says": [f"last seen: {passage_words(r.direction, r.method, r.ts, r.gate)}",
                             f"no passage at any gate since: {days:.1f} days (threshold {p.inactive_days:g})"],
                },
            )
        )
    return findings
