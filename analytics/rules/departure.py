"""人走注销: a floating resident whose temporary residence runs out within 3 months, or has already
run out, and who shows no activity at any gate for 7 days → verify the departure at the door.

A lapsed permit does not take the person out of the rule: someone whose permit ended and who is no
longer seen is exactly the departure to verify. "Expires", "today" and "within 3 months" are local
dates. Activity is any person-linked passage at any gate (head counts excluded); someone never seen
at a gate in the look-back is a gap in the data, not a departure.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import ACTIVITY, PERSON_PLACE, Finding, ids_of, iso, local_today, only, passage_words, rows
from blockdata.models import Severity

NAME = "departure"
VERSION = "2"


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def find(session: Session, as_of: dt.datetime, p: RuleParams, scope=None) -> list[Finding]:  # noqa: ANN001
    today = local_today(as_of)
    persons = ids_of(scope.persons) if scope is not None else None
    result = rows(
        session,
        f"""
        SELECT p.id, p.temp_residence_expiry, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point,
               last.ts, last.event_id, last.direction, last.method, last.gate
        FROM person p
        {PERSON_PLACE}
        CROSS JOIN LATERAL (
          SELECT e.ts, e.event_id, e.direction::text AS direction, e.method::text AS method, g.name AS gate
          FROM access_event e LEFT JOIN gate g ON g.id = e.gate_id
          WHERE {ACTIVITY} AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :lookback)
          ORDER BY e.ts DESC LIMIT 1
        ) last
        WHERE p.residence_kind = 'floating'
          AND p.temp_residence_expiry < :horizon
          AND last.ts < CAST(:as_of AS timestamptz) - make_interval(days => :quiet){only(persons, 'p.id', 'persons')}
        """,
        as_of=as_of, lookback=p.lookback_days, horizon=_add_months(today, p.departure_expiry_months),
        quiet=p.departure_quiet_days, persons=persons,
    )
    findings = []
    for r in result:
        quiet = (as_of - r.ts).total_seconds() / 86400
        lapsed = r.temp_residence_expiry < today
        permit = (f"temporary residence ended {r.temp_residence_expiry} (lapsed)" if lapsed
                  else f"temporary residence ends {r.temp_residence_expiry}")
        findings.append(Finding(
            rule=NAME, rule_version=VERSION, severity=Severity.low,
            confidence=round(min(0.95, 0.6 + 0.03 * quiet), 2),
            subject_kind="person", subject_id=r.id, grid_id=r.grid_id, point_wkt=r.point,
            evidence={
                "action": "verify departure", "temp_residence_expiry": r.temp_residence_expiry.isoformat(),
                "permit_lapsed": lapsed, "last_seen": iso(r.ts), "quiet_days": round(quiet, 1),
                "events": [str(r.event_id)],
                "says": [permit, f"last seen: {passage_words(r.direction, r.method, r.ts, r.gate)}",
                         f"no passage at any gate for {quiet:.1f} days"],
            },
        ))
    return findings
