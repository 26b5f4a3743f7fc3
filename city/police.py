"""Police queries across districts: co-presence (流调) and footholds (落脚点) of a person who moves between them.

A person has a row of their own in every district that knows them, under that district's ids; what they share
is the ID number's keyed hash (blockdata/identity.py), the same in every district because every district's key
file holds the city's one ``id_hash_key``. The officer gives the ID number (hashed here, never sent or stored
clear); each district answers for the person it knows by that hash, and the city merges: companions by their
own hash (the same companion met in two districts is one row), nights across districts (the last passage of a
night decides where it was spent, whichever district saw it).

The same rules as analytics/police.py: police only, a stated reason, the same caps; the subject must
have a home or a live tie in the viewer's jurisdiction in some district; passages count only at gates inside the
viewer's jurisdiction (a district account sees its district alone); every query is audited in the city database
with the districts asked and those that did not answer.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.police import MAX_RESULTS, MAX_SPAN, MAX_WINDOW_MIN
from core.config import load_secrets, local_tz
from core.errors import AccessDenied, InvalidInput, NotFound
from core.viewer import Role, Viewer
from blockdata import audit, queries
from blockdata.identity import hash_id_number, mask_id_number
from blockdata.masking import name_for
from city.federated import CityResult, districts_for, now, on_each
from city.servers import District

_SUBJECT = """
SELECT p.id, array(SELECT g.code FROM {s}.dwelling d JOIN {s}.building b ON b.id = d.building_id
                   JOIN {s}.grid g ON g.id = b.grid_id
                   WHERE d.id = p.home_dwelling_id
                      OR d.id IN (SELECT r.dwelling_id FROM {s}.relation r WHERE r.person_id = p.id
                                  AND r.dwelling_id IS NOT NULL AND (r.valid_to IS NULL OR r.valid_to >= :today))) AS grids
FROM {s}.person p WHERE p.id_hash = :h
"""
# city_passage (migration 0012): open passages of known people with their gate and community, built-in types
# only, so the joins, filters and grouping below are sent to the district whole. Passages count only at gates
# whose community is inside the viewer's jurisdiction.
_CO_PRESENCE = """
SELECT p.id_hash, p.id_masked, p.name, count(*) AS encounters, min(abs(e.t - m.t)) AS closest,
       array_agg(DISTINCT e.gate_code) AS gates
FROM {s}.city_passage m
JOIN {s}.city_passage e ON e.gate_id = m.gate_id AND e.t BETWEEN m.t - :ws AND m.t + :ws
JOIN {s}.person p ON p.id = e.person_id
WHERE m.person_id = :p AND m.ts BETWEEN :start AND :end AND m.community_code LIKE ANY(:patterns)
  AND e.ts BETWEEN :wstart AND :wend AND e.person_id <> :p
GROUP BY p.id_hash, p.id_masked, p.name
"""
_NIGHT_PASSAGES = """
SELECT ts, direction, compound_code AS code, compound_name AS name FROM {s}.city_passage
WHERE person_id = :p AND compound_id IS NOT NULL AND ts <= :as_of AND ts > :since AND community_code LIKE ANY(:patterns)
"""


@dataclass(frozen=True)
class CityCompanion:
    id_masked: str
    name: str                    # masked unless the role sees full identities
    districts: tuple[str, ...]   # where they were met
    encounters: int
    closest_seconds: float
    gates: tuple[str, ...]       # gate codes (unique per district's naming)


@dataclass(frozen=True)
class CityFoothold:
    district: str
    district_name: str
    compound_code: str
    compound_name: str
    nights: int
    share: float


def _check(session: Session, viewer: Viewer, reason: str, action: str) -> str:
    if viewer.role is not Role.police:  # movements are police work, as in analytics/police.py
        raise queries.deny(session, viewer, "person_hash:lookup", f"{action} is for police (with a stated reason)")
    if not reason or len(reason.strip()) < 4:
        raise InvalidInput(f"{action} needs a stated reason (case number or purpose)", record=viewer.username)
    return reason.strip()


def _audit_subject(digest: bytes) -> str:
    """The audit subject: the hash's first 16 hex digits (the city has no id of its own for the person)."""
    return f"person_hash:{digest.hex()[:16]}"


def _locate(session: Session, viewer: Viewer, id_number: str, reason: str, action: str,
            ) -> tuple[bytes, dict[str, int], tuple[District, ...], tuple[District, ...]]:
    """The subject in every district the viewer reaches; refused (audited) unless some district ties them to
    the viewer's jurisdiction. Returns (hash, district → local subject, districts asked, unreachable)."""
    reason = _check(session, viewer, reason, action)
    digest = hash_id_number(load_secrets().id_hash_key, id_number)  # validates the number first
    today = now().astimezone(local_tz()).date()

    def part(s: Session, d: District) -> tuple[int, bool] | None:
        row = s.execute(text(_SUBJECT.format(s=d.schema)), {"h": digest, "today": today}).first()
        if row is None:
            return None
        tied = any(viewer.covers(c) for c in row.grids or ())
        return int(row.id), tied

    targets = districts_for(session, viewer)
    found, down = on_each(session, targets, part)
    located = {code: hit[0] for code, hit in found.items() if hit is not None}
    where = f" (unreachable: {', '.join(d.code for d in down)})" if down else ""
    if not located:
        with Session(session.get_bind()) as own, own.begin():  # the look-up is kept; the caller's work rolls back
            audit.record(own, viewer, "city.lookup", _audit_subject(digest), reason=reason, query=action, found=False,
                         districts=[d.code for d in targets], unreachable=[d.code for d in down])
        raise NotFound("no person with that ID number in the districts that answered" + where, record=viewer.username)
    if not any(hit[1] for hit in found.values() if hit is not None):
        with Session(session.get_bind()) as own, own.begin():  # the refusal is kept; the caller's work rolls back
            audit.record(own, viewer, "access.denied", _audit_subject(digest), reason=reason, query=action,
                         districts=[d.code for d in targets], unreachable=[d.code for d in down],
                         id_masked=mask_id_number(id_number))
        raise AccessDenied("that person has no home or tie in your jurisdiction in any district that answered" + where,
                           record=viewer.username)
    return digest, located, tuple(targets), down


def co_presence(session: Session, viewer: Viewer, id_number: str, *, reason: str, start: dt.datetime | None = None,
                end: dt.datetime | None = None, window_minutes: int = 2, limit: int = 50) -> CityResult[CityCompanion]:
    """Who passed the same gates within ±window minutes of this person, in every district the viewer reaches."""
    end = end or now()
    start = start or end - dt.timedelta(hours=24)
    if end <= start or end - start > MAX_SPAN:
        raise InvalidInput(f"the period must be positive and at most {MAX_SPAN.days} days", record=viewer.username)
    if not 0 < window_minutes <= MAX_WINDOW_MIN or not 0 < limit <= MAX_RESULTS:
        raise InvalidInput(f"window 1–{MAX_WINDOW_MIN} minutes, at most {MAX_RESULTS} people", record=viewer.username)
    digest, located, targets, down = _locate(session, viewer, id_number, reason, "co-presence")
    w = dt.timedelta(minutes=window_minutes)
    by_district = {d.code: d for d in targets}

    def part(s: Session, d: District) -> list:
        return list(s.execute(text(_CO_PRESENCE.format(s=d.schema)), {
            "p": located[d.code], "patterns": viewer.like_patterns, "start": start, "end": end, "ws": w.total_seconds(),
            "wstart": start - w, "wend": end + w}))

    rows, later_down = on_each(session, [by_district[c] for c in located], part)
    merged: dict[bytes, dict] = {}
    for code, district_rows in rows.items():
        for r in district_rows:
            m = merged.setdefault(bytes(r.id_hash), {"id_masked": r.id_masked, "name": r.name, "districts": set(),
                                                     "encounters": 0, "closest": float("inf"), "gates": set()})
            m["districts"].add(code)
            m["encounters"] += int(r.encounters)
            m["closest"] = min(m["closest"], float(r.closest))
            m["gates"].update(r.gates)
    ranked = sorted(merged.values(), key=lambda m: (-m["encounters"], m["closest"], m["id_masked"]))[:limit]
    unreachable = down + later_down
    audit.record(session, viewer, "city.co_presence", _audit_subject(digest), reason=reason.strip(),
                 start=start.isoformat(), end=end.isoformat(), window_minutes=window_minutes,
                 districts=sorted(rows), unreachable=[d.code for d in unreachable], results=len(ranked),
                 people=[m["id_masked"] for m in ranked])
    return CityResult([CityCompanion(m["id_masked"], name_for(viewer, m["name"]), tuple(sorted(m["districts"])),
                                     m["encounters"], m["closest"], tuple(sorted(m["gates"]))) for m in ranked],
                      targets, unreachable)


def footholds(session: Session, viewer: Viewer, id_number: str, *, reason: str, days: int = 30,
              as_of: dt.datetime | None = None) -> CityResult[CityFoothold]:
    """Where a person stays across districts: for each night (22:00–06:00 local) the last passage seen in any
    district decides; the night counts for that compound when it was an entry."""
    if not 0 < days <= 90:
        raise InvalidInput("footholds look back 1–90 days", record=viewer.username)
    digest, located, targets, down = _locate(session, viewer, id_number, reason, "footholds")
    as_of = as_of or now()
    tz = local_tz()
    by_district = {d.code: d for d in targets}

    def part(s: Session, d: District) -> list:
        return list(s.execute(text(_NIGHT_PASSAGES.format(s=d.schema)), {
            "p": located[d.code], "patterns": viewer.like_patterns, "as_of": as_of, "since": as_of - dt.timedelta(days=days)}))

    rows, later_down = on_each(session, [by_district[c] for c in located], part)
    last_of_night: dict[dt.date, tuple[dt.datetime, str, str, str, str]] = {}
    for code, district_rows in rows.items():
        for r in district_rows:
            local = r.ts.astimezone(tz)
            if not (local.hour >= 22 or local.hour < 6):
                continue
            night = (local - dt.timedelta(hours=6)).date()
            if night not in last_of_night or r.ts > last_of_night[night][0]:
                last_of_night[night] = (r.ts, r.direction, code, r.code, r.name)
    stays = Counter((code, compound, name) for _ts, direction, code, compound, name in last_of_night.values()
                    if direction == "in")
    total = sum(stays.values())
    found = [CityFoothold(code, by_district[code].name, compound, name, n, round(n / total, 3))
             for (code, compound, name), n in sorted(stays.items(), key=lambda kv: (-kv[1], kv[0]))]
    unreachable = down + later_down
    audit.record(session, viewer, "city.footholds", _audit_subject(digest), reason=reason.strip(), days=days,
                 districts=sorted(rows), unreachable=[d.code for d in unreachable], results=len(found))
    return CityResult(found, targets, unreachable)
