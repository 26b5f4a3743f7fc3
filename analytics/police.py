"""Police queries: co-presence (流调) and footholds (落脚点). Police role, stated reason, audited, capped.

Both read movement tracks, which PIPL art. 28 counts as sensitive: tight defaults (±2 minutes,
the last 24 hours), hard caps (7 days, 200 people), and every query in the audit log with its reason.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import settings
from core.errors import InvalidInput
from core.viewer import Role, Viewer
from blockdata import audit, queries
from blockdata.models import Person

MAX_SPAN = dt.timedelta(days=7)
MAX_WINDOW_MIN = 15
MAX_RESULTS = 200


@dataclass(frozen=True)
class CoPresent:
    person: queries.PersonView
    encounters: int
    closest_seconds: float
    gate_ids: tuple[int, ...]


@dataclass(frozen=True)
class Foothold:
    compound_id: int
    compound_name: str
    nights: int
    share: float
    dwelling_ids: tuple[int, ...]


def _authorise(session: Session, viewer: Viewer, person_id: int, reason: str, action: str) -> None:
    if viewer.role is not Role.police:  # an administrator keeps the register, not the movements
        raise queries.deny(session, viewer, f"person:{person_id}", f"{action} is for police (with a stated reason)")
    if not reason or len(reason.strip()) < 4:
        raise InvalidInput(f"{action} needs a stated reason (case number or purpose)", record=viewer.username)
    queries.require_person(session, viewer, person_id)


def co_presence(
    session: Session, viewer: Viewer, person_id: int, *, reason: str, start: dt.datetime | None = None,
    end: dt.datetime | None = None, window_minutes: int = 2, limit: int = 50,
) -> list[CoPresent]:
    """Who passed the same gates within ±window minutes of this person between start and end."""
    end = end or dt.datetime.now(dt.timezone.utc)
    start = start or end - dt.timedelta(hours=24)
    if end <= start or end - start > MAX_SPAN:
        raise InvalidInput(f"the period must be positive and at most {MAX_SPAN.days} days", record=viewer.username)
    if not 0 < window_minutes <= MAX_WINDOW_MIN or not 0 < limit <= MAX_RESULTS:
        raise InvalidInput(f"window 1–{MAX_WINDOW_MIN} minutes, at most {MAX_RESULTS} people", record=viewer.username)
    _authorise(session, viewer, person_id, reason, "co-presence")
    window = dt.timedelta(minutes=window_minutes)
    rows = session.execute(
        text(
            """
            WITH mine AS (
              SELECT gate_id, ts FROM access_event
              WHERE person_id = :p AND result = 'open' AND ts BETWEEN :start AND :end
            )
            SELECT e.person_id, count(*) AS encounters, min(abs(extract(epoch FROM e.ts - m.ts))) AS closest,
                   array_agg(DISTINCT e.gate_id) AS gates
            FROM mine m
            JOIN access_event e ON e.gate_id = m.gate_id AND e.ts BETWEEN m.ts - :w AND m.ts + :w
            WHERE e.ts BETWEEN CAST(:start AS timestamptz) - :w AND CAST(:end AS timestamptz) + :w
              AND e.person_id IS NOT NULL AND e.person_id <> :p AND e.result = 'open'
            GROUP BY e.person_id ORDER BY encounters DESC, closest LIMIT :limit
            """
        ),
        {"p": person_id, "start": start, "end": end, "w": window, "limit": limit},
    ).all()
    people = {p.id: p for p in queries.person_views(session, viewer, [session.get(Person, r.person_id) for r in rows])}
    audit.record(session, viewer, "police.co_presence", f"person:{person_id}", reason=reason.strip(),
                 start=start.isoformat(), end=end.isoformat(), window_minutes=window_minutes, results=len(rows),
                 people=[r.person_id for r in rows])  # who they were, not only how many
    return [CoPresent(people[r.person_id], r.encounters, float(r.closest), tuple(sorted(r.gates))) for r in rows]


def footholds(session: Session, viewer: Viewer, person_id: int, *, reason: str, days: int = 30,
              as_of: dt.datetime | None = None) -> list[Foothold]:
    """Where a person stays: compounds where their last gate event of a night (22:00–06:00 local) was an entry."""
    if not 0 < days <= 90:
        raise InvalidInput("footholds look back 1–90 days", record=viewer.username)
    _authorise(session, viewer, person_id, reason, "footholds")
    as_of = as_of or dt.datetime.now(dt.timezone.utc)
    rows = session.execute(
        text(
            """
            WITH nightly AS (
              SELECT DISTINCT ON (night) night, compound_id, direction
              FROM (
                SELECT ((e.ts AT TIME ZONE :tz) - interval '6 hours')::date AS night, e.ts, e.compound_id, e.direction
                FROM access_event e
                WHERE e.person_id = :p AND e.result = 'open' AND e.compound_id IS NOT NULL
                  AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :days)
                  AND (extract(hour FROM e.ts AT TIME ZONE :tz) >= 22 OR extract(hour FROM e.ts AT TIME ZONE :tz) < 6)
              ) x ORDER BY night, ts DESC
            ), stays AS (
              SELECT compound_id, count(*) AS nights FROM nightly WHERE direction = 'in' GROUP BY compound_id
            )
            SELECT s.compound_id, c.name, s.nights, s.nights::float / sum(s.nights) OVER () AS share,
                   array(SELECT d.id FROM dwelling d JOIN building b ON b.id = d.building_id
                         WHERE b.compound_id = s.compound_id
                           AND (d.id = (SELECT home_dwelling_id FROM person WHERE id = :p)
                                OR d.id IN (SELECT dwelling_id FROM relation WHERE person_id = :p AND dwelling_id IS NOT NULL)
                                OR d.id IN (SELECT dwelling_id FROM access_grant WHERE grantee_person_id = :p AND revoked_at IS NULL))
                         ORDER BY d.id) AS dwellings
            FROM stays s JOIN compound c ON c.id = s.compound_id
            ORDER BY s.nights DESC
            """
        ),
        {"p": person_id, "as_of": as_of, "days": days, "tz": settings().timezone},
    ).all()
    audit.record(session, viewer, "police.footholds", f"person:{person_id}", reason=reason.strip(), days=days,
                 results=len(rows))
    return [Foothold(r.compound_id, r.name, r.nights, round(r.share, 3), tuple(r.dwellings)) for r in rows]
