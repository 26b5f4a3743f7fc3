"""群租房: a let dwelling with more people actually staying in it than its floor area (or rooms) allows.

A group rental is a rental: only dwellings that are let (a rental, a rents/sublets relation or a
tenant's grant in force, marked rented, or owned by people none of whom lives there) are judged; a large family in its own flat is not a group rental. The people counted
are those who actually stay, overnight, over weeks: of everyone the records tie to the dwelling
(residents, household members, grantees, lessees, lives-in relations, verified self-declarations) and of visitors coming on passes, those with at
least ``group_rental_min_nights`` nights here in the last 30 days (came in through the dwelling's
compound and left on a later day, nights counted from 04:00 local). People with no passage anywhere
are counted only when the dwelling is their registered home and no lives-in relation puts them elsewhere;
household members and grantees who live elsewhere, and carers, relatives and cleaners who come for a
few hours, are not counted. Presets: ``area_cap`` (at most floor(area / m² per person), at least 1)
or ``shanghai`` (< 5 m² per person or > 2 people per room).
"""
from __future__ import annotations

import datetime as dt
import math
import re

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding, ids_of, local_today, only, rows, tz_name, when
from blockdata.models import Severity

NAME = "group_rental"
VERSION = "2"

_NIGHT = "((({ts}) AT TIME ZONE :tz) - interval '4 hours')::date"

# The let dwellings (each branch restricted to an incremental sweep's dwellings, and once more after).
_LET = """
  SELECT dwelling_id FROM (
  SELECT d.id AS dwelling_id FROM dwelling d WHERE d.use = 'rented' /*S:d.id*/
  UNION SELECT dwelling_id FROM rental WHERE start_date <= :today AND (end_date IS NULL OR end_date >= :today) /*S:dwelling_id*/
  UNION SELECT dwelling_id FROM access_grant
  WHERE kind = 'tenant' AND revoked_at IS NULL AND valid_from <= :as_of AND (valid_to IS NULL OR valid_to > :as_of) /*S:dwelling_id*/
  UNION SELECT dwelling_id FROM relation WHERE kind IN ('rents', 'sublets') AND dwelling_id IS NOT NULL
    AND valid_from <= :today AND (valid_to IS NULL OR valid_to >= :today) /*S:dwelling_id*/
  -- owned, but no owner lives there: whoever does is not the owner's household
  UNION SELECT o.dwelling_id FROM ownership o WHERE true /*S:o.dwelling_id*/ GROUP BY o.dwelling_id
  HAVING NOT bool_or(EXISTS (SELECT 1 FROM person op WHERE op.id = o.person_id AND op.home_dwelling_id = o.dwelling_id))
  ) let_all WHERE dwelling_id IS NOT NULL /*SCOPE*/
"""
# An incremental sweep's let dwellings (``let_dwellings``), given as a constant array whose size the planner
# knows: it joins the records tying people to them for those dwellings only.
_LET_GIVEN = "SELECT unnest(CAST(:let AS integer[])) AS dwelling_id"

# Everyone the records tie to a let dwelling, and how.
_TIE = """
WITH let AS ({let}), tie AS (
  SELECT p.home_dwelling_id AS dwelling_id, p.id AS person_id, 'resident' AS source FROM person p JOIN let ON let.dwelling_id = p.home_dwelling_id
  UNION SELECT h.dwelling_id, m.person_id, 'household' FROM household_member m JOIN household h ON h.id = m.household_id
    JOIN let ON let.dwelling_id = h.dwelling_id
  UNION SELECT g.dwelling_id, g.grantee_person_id, 'grant:' || g.kind::text FROM access_grant g JOIN let ON let.dwelling_id = g.dwelling_id
  WHERE g.revoked_at IS NULL AND g.valid_from <= :as_of AND (g.valid_to IS NULL OR g.valid_to > :as_of)
  UNION SELECT r.dwelling_id, r.lessee_person_id, 'lessee' FROM rental r JOIN let ON let.dwelling_id = r.dwelling_id
  WHERE r.start_date <= :today AND (r.end_date IS NULL OR r.end_date >= :today)
  UNION SELECT r.dwelling_id, r.person_id, 'registered:' || r.kind::text FROM relation r JOIN let ON let.dwelling_id = r.dwelling_id
  WHERE r.kind IN ('lives_in', 'rents', 'sublets') AND r.valid_from <= :today AND (r.valid_to IS NULL OR r.valid_to >= :today)
  UNION SELECT s.dwelling_id, s.person_id, 'declared' FROM self_declaration s JOIN let ON let.dwelling_id = s.dwelling_id
  WHERE s.status = 'verified' AND (s.period_to IS NULL OR s.period_to >= :today)
)"""

_STAYS = _TIE[:-1] + f"""), person_tie AS (
  SELECT t.dwelling_id, t.person_id, array_agg(DISTINCT t.source) AS sources, b.compound_id,
         bool_or(p.home_dwelling_id = t.dwelling_id OR t.source LIKE 'registered:%' OR t.source = 'declared')
           AND NOT EXISTS (SELECT 1 FROM relation r WHERE r.person_id = t.person_id AND r.kind = 'lives_in'
                           AND r.dwelling_id <> t.dwelling_id AND r.valid_from <= :today
                           AND (r.valid_to IS NULL OR r.valid_to >= :today)) AS registered_here,
         p.name
  FROM tie t JOIN person p ON p.id = t.person_id JOIN dwelling d ON d.id = t.dwelling_id JOIN building b ON b.id = d.building_id
  GROUP BY t.dwelling_id, t.person_id, b.compound_id, p.name
), ev AS (
  SELECT pt.dwelling_id, pt.person_id, e.ts, e.event_id, e.direction::text AS direction, e.compound_id, pt.compound_id AS home,
         lead(e.ts) OVER w AS next_ts, lead(e.direction::text) OVER w AS next_dir, lead(e.compound_id) OVER w AS next_comp
  FROM person_tie pt JOIN access_event e ON e.person_id = pt.person_id AND e.result = 'open' AND e.method <> 'count' /*PEOPLE*/
       AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :window)
  WINDOW w AS (PARTITION BY pt.dwelling_id, pt.person_id ORDER BY e.ts)
), nights AS (
  SELECT dwelling_id, person_id, count(*) AS passages,
         coalesce(sum(CASE WHEN direction = 'in' AND compound_id = home THEN
           CASE WHEN next_ts IS NULL THEN {_NIGHT.format(ts='CAST(:as_of AS timestamptz)')} - {_NIGHT.format(ts='ts')}
                WHEN next_dir = 'out' AND next_comp = compound_id THEN {_NIGHT.format(ts='next_ts')} - {_NIGHT.format(ts='ts')}
                ELSE 0 END END), 0) AS nights,
         max(ts) FILTER (WHERE direction = 'in' AND compound_id = home) AS last_in,
         (array_agg(event_id ORDER BY ts DESC) FILTER (WHERE direction = 'in' AND compound_id = home))[1] AS last_in_event
  FROM ev GROUP BY dwelling_id, person_id
)
SELECT pt.dwelling_id, 'person:' || pt.person_id AS who, pt.name, pt.sources, pt.registered_here,
       coalesce(n.passages, 0) AS passages, coalesce(n.nights, 0) AS nights, n.last_in, n.last_in_event::text AS last_in_event
FROM person_tie pt LEFT JOIN nights n ON n.dwelling_id = pt.dwelling_id AND n.person_id = pt.person_id
UNION ALL
SELECT v.dwelling_id, 'visitor:' || encode(v.visitor_id_hash, 'hex'), min(v.visitor_name), ARRAY['visitor_pass'], false,
       count(*) FILTER (WHERE pe.direction = 'in'),
       coalesce(sum({_NIGHT.format(ts='pe.next_ts')} - {_NIGHT.format(ts='pe.ts')}) FILTER (WHERE pe.direction = 'in' AND pe.next_dir = 'out'), 0),
       max(pe.ts) FILTER (WHERE pe.direction = 'in'),
       (array_agg(pe.event_id::text ORDER BY pe.ts DESC) FILTER (WHERE pe.direction = 'in'))[1]
FROM (
  SELECT e.pass_id, e.ts, e.event_id, e.direction::text AS direction,
         lead(e.ts) OVER w AS next_ts, lead(e.direction::text) OVER w AS next_dir
  FROM access_event e
  WHERE e.pass_id IS NOT NULL AND e.result = 'open' AND e.ts <= :as_of /*PASSES*/
    AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :window)
  WINDOW w AS (PARTITION BY e.pass_id ORDER BY e.ts)
) pe
JOIN visitor_pass v ON v.id = pe.pass_id JOIN let ON let.dwelling_id = v.dwelling_id
WHERE v.visitor_id_hash IS NOT NULL
GROUP BY v.dwelling_id, v.visitor_id_hash
"""


def let_dwellings(session: Session, as_of: dt.datetime, dwellings: list[int]) -> list[int]:
    """Of these dwellings, those let as of ``as_of``: the rule's own subjects (no other can be found).

    Each branch of ``let`` is restricted to them (the dwellings are let or not one by one), and once more after."""
    if not dwellings:
        return []
    sql = re.sub(r"/\*S:([a-z_.]+)\*/", lambda m: only(dwellings, m.group(1), "dwellings"), _LET)
    sql = sql.replace("/*SCOPE*/", only(dwellings, "dwelling_id", "dwellings"))
    return sorted(r.dwelling_id for r in rows(session, sql, as_of=as_of, today=local_today(as_of), dwellings=dwellings))


def find(session: Session, as_of: dt.datetime, p: RuleParams, scope=None) -> list[Finding]:  # noqa: ANN001
    at = {"as_of": as_of, "today": local_today(as_of)}
    let_ids = tied_people = None
    if scope is not None:
        # Set by set, each an array whose size the planner knows: the let dwellings among the subjects, the
        # people tied to them, then only those people's passages (not the window's passages of everyone).
        let_ids = let_dwellings(session, as_of, ids_of(scope.dwellings))
        if not let_ids:
            return []
        tie = _TIE.replace("{let}", _LET_GIVEN) + " SELECT DISTINCT person_id FROM tie"
        tied_people = sorted({r.person_id for r in rows(session, tie, let=let_ids, **at)})
    sql = _STAYS.replace("{let}", _LET if let_ids is None else _LET_GIVEN)
    if let_ids is not None:
        sql = sql.replace("/*PASSES*/", " AND e.pass_id IN (SELECT id FROM visitor_pass WHERE dwelling_id = ANY(CAST(:let AS integer[])))")
        sql = sql.replace("/*PEOPLE*/", " AND e.person_id = ANY(CAST(:people AS bigint[]))")
    sql = re.sub(r"/\*(S:[a-z_.]+|SCOPE|PASSES|PEOPLE)\*/", "", sql)
    people: dict[int, list] = {}
    for r in rows(session, sql, window=p.group_rental_window_days, tz=tz_name(), let=let_ids, people=tied_people, **at):
        people.setdefault(r.dwelling_id, []).append(r)
    if not people:
        return []
    dwellings = {r.id: r for r in rows(
        session, "SELECT d.id, d.code, d.area_m2::float AS area, d.rooms, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point "
                 "FROM dwelling d JOIN building b ON b.id = d.building_id WHERE d.id = ANY(CAST(:ids AS integer[]))", ids=list(people))}
    findings = []
    for dwelling_id, tied in people.items():
        d = dwellings[dwelling_id]
        staying, not_counted = [], []
        for r in tied:
            if r.nights >= p.group_rental_min_nights:
                staying.append((r, f"{r.nights} nights here in {p.group_rental_window_days} days, last came in {when(r.last_in)}"))
            elif r.passages == 0 and r.registered_here:
                staying.append((r, "registered here; no passage at any gate on record"))
            else:
                not_counted.append((r, f"{r.nights} nights here in {p.group_rental_window_days} days"
                                       + ("" if r.passages else ", no passage on record")))
        occupants = len(staying)
        if p.group_rental_mode == "shanghai":
            cap = min(math.floor(d.area / p.shanghai_min_area_per_person_m2), p.shanghai_max_people_per_room * d.rooms)
            over = d.area / max(occupants, 1) < p.shanghai_min_area_per_person_m2 or occupants > p.shanghai_max_people_per_room * d.rooms
        else:
            cap = max(1, math.floor(d.area / p.area_per_person_m2))
            over = occupants > cap
        if not over:
            continue
        ratio = occupants / max(cap, 1)
        by_source: dict[str, int] = {}
        for r, _ in staying:
            for s in r.sources:
                by_source[s] = by_source.get(s, 0) + 1
        says = [f"{d.code}: {occupants} people staying in {d.area:g} m², {d.rooms} rooms (cap {cap})"]
        says += [f"{r.name} ({', '.join(r.sources)}): {why}" for r, why in staying]
        says += [f"not counted: {r.name} ({', '.join(r.sources)}): {why}" for r, why in not_counted]
        findings.append(Finding(
            rule=NAME, rule_version=VERSION, severity=Severity.high if ratio >= 2 else Severity.medium,
            confidence=round(min(0.95, 0.5 + 0.2 * ratio), 2),
            subject_kind="dwelling", subject_id=dwelling_id, grid_id=d.grid_id, point_wkt=d.point,
            evidence={
                "occupants": occupants, "cap": cap, "area_m2": d.area, "rooms": d.rooms, "by_source": by_source,
                "mode": p.group_rental_mode, "staying": [r.who for r, _ in staying],
                "not_counted": [r.who for r, _ in not_counted],
                "events": [r.last_in_event for r, _ in staying if r.last_in_event][:20], "says": says,
            },
        ))
    return findings
