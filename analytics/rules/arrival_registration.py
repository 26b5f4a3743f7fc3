"""人来登记: someone who lives here but is not registered — scored by a calibrated logistic model.

Who is a candidate (the last 14 days, local time):
- an unknown face (a pseudonymous stranger id) at a compound's gates — unless its attempts are the
  attempts of a registered person: a face that was not recognised and then, at the same gate within
  ``link_seconds``, the same direction, opened with a person's own code, card or face is that person
  (the attempts are linked, and most of its attempts linking to one person make it that person);
- a grantee entering on an owner's grant who is not registered at that dwelling (not their registered
  home, no lives-in relation, not in its household);
- a visitor coming on passes to one dwelling (one ID number; passes without one are grouped by name,
  said in the evidence, and score lower);
- a dwelling whose utility account is in a name nobody registered there has.
Anyone who already declared themselves (self-declaration pending or verified) is on the way to a
doorstep verification and is left out. The evidence of each candidate (days seen, nights stayed or
evenings seen, the evening share, the utility name, a pass without ID) goes through the model in
``analytics/registration_model.py``; at or above ``registration_threshold`` the alert asks the worker
to register the person, and says which evidence it rests on. Service workers (daytime, short visits)
score low by the model's fit, not by a hand-made exception.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.registration_model import WINDOW_DAYS, Evidence, score
from analytics.rules.base import Finding, ids_of, local, local_today, only, rows, when
from blockdata.models import Severity

NAME = "arrival_registration"
VERSION = "2"
EVENING_FROM, EVENING_TO = 18, 8  # local hours: 18:00–08:00 is "evening or night"


def _stranger_subject(stranger: uuid.UUID) -> int:
    return int.from_bytes(stranger.bytes[:8], "big") >> 1  # a positive bigint for alert.subject_id


def _evening(ts: dt.datetime) -> bool:
    h = local(ts).hour
    return h >= EVENING_FROM or h < EVENING_TO


def find(session: Session, as_of: dt.datetime, p: RuleParams, scope=None) -> list[Finding]:  # noqa: ANN001
    """Every candidate, or (an incremental sweep) only the scope's unknown faces, grantees and dwellings."""
    since = as_of - dt.timedelta(days=WINDOW_DAYS)
    declared = _declared(session, as_of)
    grants = _grants(session, as_of, ids_of(scope.persons) if scope is not None else None)
    dwellings = None if scope is None else sorted(set(scope.dwellings) | {g.dwelling_id for g in grants})
    utility_names = _utility_new_names(session, as_of, dwellings)
    findings = [*_strangers(session, as_of, since, p, ids_of(scope.strangers) if scope is not None else None),
                *_grantees(session, as_of, since, p, utility_names, declared, grants),
                *_dwellings(session, as_of, since, p, utility_names, declared,
                            ids_of(scope.dwellings) if scope is not None else None)]
    return [f for f in findings if f.confidence >= p.registration_threshold]


def _finding(p: RuleParams, ev: Evidence, subject_kind: str, subject_id: int, place, evidence: dict, says: list[str],  # noqa: ANN001
             dedup: str | None = None) -> Finding:
    s = score(ev)
    says = says + [f"score {s:.2f} from the fitted model (days {ev.days}, nights {ev.nights}, evening share "
                   f"{ev.evening_share:.2f}{', utility account in a new name' if ev.utility_new_name else ''}"
                   f"{', pass without ID number' if ev.no_id_number else ''})"]
    return Finding(
        rule=NAME, rule_version=VERSION, severity=Severity.medium, confidence=round(min(s, 0.99), 2),
        subject_kind=subject_kind, subject_id=subject_id, grid_id=place.grid_id, point_wkt=place.point,
        dedup_subject=dedup,
        evidence={"action": "should register", **evidence, "score_inputs": ev.__dict__, "says": says},
    )


def _strangers(session: Session, as_of: dt.datetime, since: dt.datetime, p: RuleParams,
               strangers: list | None = None) -> list[Finding]:
    attempts = rows(
        session,
        f"""
        SELECT e.stranger_id, e.compound_id, e.ts, e.event_id, e.direction::text AS direction, g.name AS gate,
               (SELECT x.person_id FROM access_event x WHERE x.gate_id = e.gate_id AND x.direction = e.direction
                  AND x.result = 'open' AND x.person_id IS NOT NULL AND x.ts > e.ts
                  AND x.ts <= e.ts + make_interval(secs => :link) ORDER BY x.ts LIMIT 1) AS linked
        FROM access_event e LEFT JOIN gate g ON g.id = e.gate_id
        WHERE e.stranger_id IS NOT NULL AND e.compound_id IS NOT NULL AND e.ts <= :as_of AND e.ts > :since
              {only(strangers, 'e.stranger_id', 'strangers')}
        ORDER BY e.ts
        """,
        as_of=as_of, since=since, link=p.link_seconds, strangers=strangers,
    )
    by_stranger: dict[tuple[uuid.UUID, int], list] = {}
    for a in attempts:
        by_stranger.setdefault((a.stranger_id, a.compound_id), []).append(a)
    places = {r.id: r for r in rows(session, """
        SELECT c.id, ST_AsText(ST_PointOnSurface(c.geom)) AS point,
               (SELECT g.id FROM grid g WHERE ST_Covers(g.geom, ST_PointOnSurface(c.geom)) LIMIT 1) AS grid_id
        FROM compound c WHERE c.id = ANY(CAST(:ids AS integer[]))""", ids=sorted({k[1] for k in by_stranger}))}
    out = []
    for (stranger, compound), seen in by_stranger.items():
        links = Counter(a.linked for a in seen if a.linked is not None)
        if links and links.most_common(1)[0][1] * 2 >= len(seen):
            continue  # the attempts of a registered resident whose face was not recognised
        # Attempts followed by different residents are people coming home at the same moment, not links.
        unlinked = seen
        days = {local(a.ts).date() for a in unlinked}
        ev = Evidence(len(days), _stranger_nights(unlinked), sum(_evening(a.ts) for a in unlinked) / len(unlinked))
        says = [f"unknown face at {a.gate}, {when(a.ts)}" for a in unlinked[-5:]]
        if links:
            says.append(f"{sum(links.values())} attempts were followed by different residents opening: people passing, not a link")
        out.append(_finding(p, ev, "stranger", _stranger_subject(stranger), places[compound], {
            "stranger_id": str(stranger), "compound_id": compound,
            "sources": {"sightings": {"days": len(days), "count": len(unlinked), "first": unlinked[0].ts.isoformat(),
                                      "last": unlinked[-1].ts.isoformat()}},
            "events": [str(a.event_id) for a in unlinked[-10:]]}, says, dedup=str(stranger)))
    return out


def _stranger_nights(seen: list) -> int:
    """Nights an unknown face stayed: an arrival followed by its own exit on a later night counts those nights;
    one followed by its exit the same evening (a delivery, a visit) counts none; an evening arrival whose exit
    nobody saw counts one (the face is usually seen only coming in)."""
    nights = 0
    for i, a in enumerate(seen):
        if a.direction != "in":
            continue
        nxt = seen[i + 1] if i + 1 < len(seen) else None
        if nxt is not None and nxt.direction == "out":
            nights += (_night(nxt.ts) - _night(a.ts)).days
        elif _evening(a.ts):
            nights += 1
    return nights


# Passages of many people (or passes) at once, each with the next passage of the same one.
_STAYS = """
  SELECT e.{key} AS owner, e.ts, e.event_id, e.direction::text AS direction, e.compound_id, g.name AS gate,
         lead(e.ts) OVER w AS next_ts, lead(e.direction::text) OVER w AS next_dir, lead(e.compound_id) OVER w AS next_comp
  FROM access_event e LEFT JOIN gate g ON g.id = e.gate_id
  WHERE e.{key} = ANY(CAST(:ids AS {sql_type}[])) AND e.result = 'open' AND e.ts <= :as_of AND e.ts > :since
  WINDOW w AS (PARTITION BY e.{key} ORDER BY e.ts)
  ORDER BY e.{key}, e.ts
"""


def _passages(session: Session, key: str, ids: list, as_of: dt.datetime, since: dt.datetime) -> dict[object, list]:
    out: dict[object, list] = {}
    if ids:
        sql_type = {"person_id": "bigint", "pass_id": "uuid"}[key]
        for r in rows(session, _STAYS.format(key=key, sql_type=sql_type), ids=ids, as_of=as_of, since=since):
            out.setdefault(r.owner, []).append(r)
    return out


def _night(ts: dt.datetime) -> dt.date:
    return (local(ts) - dt.timedelta(hours=4)).date()


def _stay_evidence(passages: list, home_compound: int | None, as_of: dt.datetime) -> tuple[int, int, float, list]:
    """Days seen at the compound, nights stayed (in, then out on a later night), evening share, the passages."""
    here = [e for e in passages if e.compound_id == home_compound]
    nights = 0
    for e in here:
        if e.direction != "in":
            continue
        if e.next_ts is None:
            nights += (_night(as_of) - _night(e.ts)).days
        elif e.next_dir == "out" and e.next_comp == e.compound_id:
            nights += (_night(e.next_ts) - _night(e.ts)).days
    days = len({local(e.ts).date() for e in here})
    share = sum(_evening(e.ts) for e in here) / len(here) if here else 0.0
    return days, nights, share, here


def _grants(session: Session, as_of: dt.datetime, persons: list | None) -> list:
    """Grants in force to people not registered at the granted dwelling (all, or only these grantees')."""
    return rows(session, f"""
        SELECT DISTINCT ON (g.grantee_person_id, g.dwelling_id) g.grantee_person_id AS person_id, g.dwelling_id, g.kind::text AS kind,
               p.name, d.code, b.compound_id, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point
        FROM access_grant g JOIN person p ON p.id = g.grantee_person_id
        JOIN dwelling d ON d.id = g.dwelling_id JOIN building b ON b.id = d.building_id
        WHERE g.revoked_at IS NULL AND g.valid_from <= :as_of AND (g.valid_to IS NULL OR g.valid_to > :as_of)
          AND p.home_dwelling_id IS DISTINCT FROM g.dwelling_id
          AND NOT EXISTS (SELECT 1 FROM household_member m JOIN household h ON h.id = m.household_id
                          WHERE m.person_id = p.id AND h.dwelling_id = g.dwelling_id)
          AND NOT EXISTS (SELECT 1 FROM relation r WHERE r.person_id = p.id AND r.dwelling_id = g.dwelling_id
                          AND r.kind = 'lives_in' AND (r.valid_to IS NULL OR r.valid_to >= :today))
          {only(persons, 'g.grantee_person_id', 'persons')}
        """, as_of=as_of, today=local_today(as_of), persons=persons)


def _grantees(session: Session, as_of: dt.datetime, since: dt.datetime, p: RuleParams, utility_names: dict,  # noqa: ANN001
              declared: set, grants: list) -> list[Finding]:
    out = []
    grants = [g for g in grants if (g.person_id, g.dwelling_id) not in declared]  # their own declaration only
    by_person = _passages(session, "person_id", sorted({g.person_id for g in grants}), as_of, since)
    for g in grants:
        days, nights, share, here = _stay_evidence(by_person.get(g.person_id, []), g.compound_id, as_of)
        if not here:
            continue
        name = utility_names.get(g.dwelling_id)
        ev = Evidence(days, nights, share, utility_new_name=name is not None)
        says = [f"{g.name} comes in on a {g.kind} grant to {g.code} but is not registered there",
                f"seen on {days} days in {WINDOW_DAYS}, {nights} nights stayed; last: came in at {here[-1].gate}, "
                f"{when(here[-1].ts)}" if here[-1].direction == "in" else
                f"seen on {days} days in {WINDOW_DAYS}, {nights} nights stayed; last: went out at {here[-1].gate}, {when(here[-1].ts)}"]
        if name:
            says.append(f"utility account in the name {name}, which nobody registered there has")
        out.append(_finding(p, ev, "person", g.person_id, g, {
            "dwelling_id": g.dwelling_id, "sources": {"grant": g.kind, "days": days, "nights": nights,
                                                      **({"utility_account_in_new_name": True} if name else {})},
            "events": [str(e.event_id) for e in here[-10:]]}, says))
    return out


def _dwellings(session: Session, as_of: dt.datetime, since: dt.datetime, p: RuleParams, utility_names: dict,  # noqa: ANN001
               declared: set, dwellings: list | None = None) -> list[Finding]:
    passes = rows(session, f"""
        SELECT v.dwelling_id, coalesce('id:' || encode(v.visitor_id_hash, 'hex'), 'name:' || v.visitor_name) AS visitor,
               v.visitor_id_hash IS NULL AS no_id, v.visitor_name, v.id AS pass_id
        FROM visitor_pass v WHERE v.valid_from <= :as_of AND v.valid_to > :since{only(dwellings, 'v.dwelling_id', 'dwellings')}
        """, as_of=as_of, since=since, dwellings=dwellings)
    by_visitor: dict[tuple[int, str], list] = {}
    for v in passes:
        by_visitor.setdefault((v.dwelling_id, v.visitor), []).append(v)
    candidates: dict[int, tuple[Evidence, dict, list[str]]] = {}
    by_visitor = {k: vs for k, vs in by_visitor.items() if len(vs) >= 2}  # one pass is one visit
    by_pass = _passages(session, "pass_id", [v.pass_id for vs in by_visitor.values() for v in vs], as_of, since)
    for (dwelling, visitor), vs in by_visitor.items():
        passages = sorted((e for v in vs for e in by_pass.get(v.pass_id, [])), key=lambda e: e.ts)
        if not passages:
            continue
        entries = [e for e in passages if e.direction == "in"]
        nights = sum((_night(e.next_ts) - _night(e.ts)).days if e.next_ts is not None and e.next_dir == "out"
                     else 0 for e in entries)
        days = len({local(e.ts).date() for e in passages})
        share = sum(_evening(e.ts) for e in passages) / len(passages)
        name = utility_names.get(dwelling)
        ev = Evidence(days, nights, share, utility_new_name=name is not None, no_id_number=vs[0].no_id)
        says = [f"visitor {vs[0].visitor_name}: {len(vs)} passes to this dwelling, seen on {days} days in {WINDOW_DAYS}, "
                f"{nights} nights stayed"]
        if vs[0].no_id:
            says.append("the passes carry no ID number: grouped by the visitor's name, which may join different people")
        if name:
            says.append(f"utility account in the name {name}, which nobody registered there has")
        sources = {"visitor_passes": len(vs), "days": days, "nights": nights,
                   **({"utility_account_in_new_name": True} if name else {})}
        best = candidates.get(dwelling)
        if best is None or score(ev) > score(best[0]):
            candidates[dwelling] = (ev, {"sources": sources, "visitor": visitor,
                                         "events": [str(e.event_id) for e in passages[-10:]]}, says)
    wanted = None if dwellings is None else set(dwellings)
    for dwelling, name in utility_names.items():
        if dwelling not in candidates and (wanted is None or dwelling in wanted):
            candidates[dwelling] = (Evidence(0, 0, 0.0, utility_new_name=True),
                                    {"sources": {"utility_account_in_new_name": True}, "events": []},
                                    [f"utility account in the name {name}, which nobody registered there has"])
    if not candidates:
        return []
    places = {r.id: r for r in rows(session, "SELECT d.id, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point "
                                            "FROM dwelling d JOIN building b ON b.id = d.building_id WHERE d.id = ANY(CAST(:ids AS integer[]))",
                                    ids=list(candidates))}
    return [_finding(p, ev, "dwelling", dwelling, places[dwelling], {**evidence, "self_declaration": False}, says)
            for dwelling, (ev, evidence, says) in candidates.items() if ("dwelling", dwelling) not in declared]


# The latest account name per dwelling of the last 30 days: from each meter series' kept figures
# (utility_baseline, migration 0015) where they are for today or earlier; from the readings for a dwelling
# with a series read after today (a sweep as of the past). Reading the month of every dwelling's readings
# for the few names that differ took 78 s at 1 M people.
_LATEST_NAMES = """
WITH later AS (
  SELECT DISTINCT b.dwelling_id FROM utility_baseline b WHERE b.day > :today{only_b}
), kept AS (
  SELECT DISTINCT ON (b.dwelling_id) b.dwelling_id, b.account_name FROM utility_baseline b
  WHERE b.account_name IS NOT NULL AND b.named_day > :today - 30 AND b.day <= :today{only_b}
    AND b.dwelling_id NOT IN (SELECT dwelling_id FROM later)
  ORDER BY b.dwelling_id, b.named_day DESC, b.kind
), read AS (
  SELECT l.dwelling_id, x.account_name FROM later l CROSS JOIN LATERAL (
    SELECT u.account_name FROM utility_reading u
    WHERE u.dwelling_id = l.dwelling_id AND u.account_name IS NOT NULL AND u.day <= :today AND u.day > :today - 30
    ORDER BY u.day DESC, u.kind LIMIT 1) x
)
SELECT * FROM kept UNION ALL SELECT * FROM read
"""


def _utility_new_names(session: Session, as_of: dt.datetime, dwellings: list | None = None) -> dict[int, str]:
    """dwelling → the latest utility account name, where nobody registered or granted there has that name."""
    names = _LATEST_NAMES.format(only_b=only(dwellings, 'b.dwelling_id', 'dwellings'))
    return {r.dwelling_id: r.account_name for r in rows(session, f"""
        WITH names AS ({names})
        SELECT n.dwelling_id, n.account_name FROM names n
        WHERE NOT EXISTS (SELECT 1 FROM person p WHERE p.home_dwelling_id = n.dwelling_id AND p.name = n.account_name)
          AND NOT EXISTS (SELECT 1 FROM ownership o JOIN person p ON p.id = o.person_id
                          WHERE o.dwelling_id = n.dwelling_id AND p.name = n.account_name)
          AND NOT EXISTS (SELECT 1 FROM access_grant g JOIN person p ON p.id = g.grantee_person_id
                          WHERE g.dwelling_id = n.dwelling_id AND p.name = n.account_name AND g.revoked_at IS NULL)
          AND NOT EXISTS (SELECT 1 FROM household h JOIN household_member m ON m.household_id = h.id JOIN person p ON p.id = m.person_id
                          WHERE h.dwelling_id = n.dwelling_id AND p.name = n.account_name)
        """, today=local_today(as_of), dwellings=dwellings)}


def _declared(session: Session, as_of: dt.datetime) -> set[tuple]:
    """(person, dwelling) and ("dwelling", dwelling) of self-declarations pending or verified: already on their way."""
    out: set[tuple] = set()
    for r in rows(session, "SELECT person_id, dwelling_id FROM self_declaration WHERE status <> 'rejected' "
                           "AND (period_to IS NULL OR period_to >= :today)", today=local_today(as_of)):
        out.add((r.person_id, r.dwelling_id))
        out.add(("dwelling", r.dwelling_id))
    return out
