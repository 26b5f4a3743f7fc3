"""社区矫正人员: abnormal movement — no activity for days, moving at night, being in other compounds.

Runs only while the person's tag carries a legal basis in force: a non-blank basis whose last day
(local date) is today or later; the day after, even at 01:00 local, the person leaves the rule.
Activity is any person-linked passage at any gate (a head count names nobody). Night is 23:00–05:00
local time. A passage at another compound's gate, in or out, means the person was in that compound.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import ACTIVITY, PERSON_PLACE, Finding, ids_of, iso, local_today, only, passage_words, rows, tz_name
from blockdata.models import Severity

NAME = "correction_movement"
VERSION = "2"


def find(session: Session, as_of: dt.datetime, p: RuleParams, scope=None) -> list[Finding]:  # noqa: ANN001
    return supervised_movement(session, as_of, p, tag="community_correction", rule=NAME, version=VERSION, scope=scope)


def supervised_movement(session: Session, as_of: dt.datetime, p: RuleParams, *, tag: str, rule: str,
                        version: str, scope=None) -> list[Finding]:  # noqa: ANN001
    """Abnormal movement of people under a supervision tag with a legal basis in force: the signs and
    parameters of community correction, shared with the key-control rule (analytics/rules/key_control_movement.py)."""
    persons = ids_of(scope.persons) if scope is not None else None
    result = rows(
        session,
        f"""
        SELECT p.id, b.grid_id, b.compound_id AS home_compound, ST_AsText(ST_PointOnSurface(b.geom)) AS point,
               t.legal_basis, t.legal_basis_expiry, ev.*
        FROM person p
        JOIN person_tag t ON t.person_id = p.id AND t.tag = :tag
             AND btrim(coalesce(t.legal_basis, '')) <> '' AND t.legal_basis_expiry >= :today
        {PERSON_PLACE}
        CROSS JOIN LATERAL (
          SELECT array_agg(e.ts ORDER BY e.ts DESC) AS ts, array_agg(e.event_id::text ORDER BY e.ts DESC) AS ids,
                 array_agg(e.direction::text ORDER BY e.ts DESC) AS dirs, array_agg(e.method::text ORDER BY e.ts DESC) AS methods,
                 array_agg(g.name ORDER BY e.ts DESC) AS gates, array_agg(e.compound_id ORDER BY e.ts DESC) AS compounds,
                 array_agg(CAST(extract(hour FROM e.ts AT TIME ZONE :tz) AS int) ORDER BY e.ts DESC) AS hours
          FROM access_event e LEFT JOIN gate g ON g.id = e.gate_id
          WHERE {ACTIVITY} AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :lookback)
        ) ev
        WHERE ev.ts IS NOT NULL{only(persons, 'p.id', 'persons')}
        """,
        as_of=as_of, today=local_today(as_of), lookback=p.lookback_days, tz=tz_name(), tag=tag, persons=persons,
    )
    findings = []
    window_start = as_of - dt.timedelta(days=p.correction_window_days)
    for r in result:
        recent = [i for i, ts in enumerate(r.ts) if ts > window_start]
        night = [i for i in recent if r.hours[i] >= p.night_start_hour or r.hours[i] < p.night_end_hour]
        elsewhere = [i for i in recent if r.compounds[i] is not None and r.compounds[i] != r.home_compound]
        absent_days = (as_of - r.ts[0]).total_seconds() / 86400
        reasons, says, cited = [], [], []
        if absent_days >= p.correction_absent_days:
            reasons.append("absent")
            says.append(f"no passage at any gate for {absent_days:.1f} days; last seen: "
                        f"{passage_words(r.dirs[0], r.methods[0], r.ts[0], r.gates[0])}")
            cited.append(0)
        if len(night) >= p.correction_min_night_events:
            reasons.append("night_movement")
            says += [f"at night: {passage_words(r.dirs[i], r.methods[i], r.ts[i], r.gates[i])}" for i in night[:5]]
            cited += night
        if elsewhere:
            reasons.append("other_compounds")
            says += [f"in another compound: {passage_words(r.dirs[i], r.methods[i], r.ts[i], r.gates[i])}"
                     for i in elsewhere[:5]]
            cited += elsewhere
        if not reasons:
            continue
        findings.append(Finding(
            rule=rule, rule_version=version, severity=Severity.high,
            confidence=round(min(0.95, 0.6 + 0.15 * len(reasons)), 2),
            subject_kind="person", subject_id=r.id, grid_id=r.grid_id, point_wkt=r.point,
            evidence={
                "reasons": reasons, "last_seen": iso(r.ts[0]), "days_absent": round(absent_days, 1),
                "night_events": len(night),
                "other_compounds": sorted({r.compounds[i] for i in elsewhere}),
                "legal_basis": r.legal_basis, "legal_basis_expiry": r.legal_basis_expiry.isoformat(),
                "events": [r.ids[i] for i in dict.fromkeys(cited)][:10], "window_days": p.correction_window_days,
                "says": says,
            },
        ))
    return findings
