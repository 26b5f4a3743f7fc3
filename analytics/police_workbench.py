"""The police workbench's reads beside analytics/police.py: a person's trajectory, who is inside a key
site now, and the day a query should default to.

Same rules as co-presence and footholds (police or admin, a stated reason, the person in the
officer's jurisdiction, every query audited with its reason; a trajectory at most 7 days), because
a trajectory is the movement track itself. "Inside a key site now" reads the site's counter gates:
people whose last passage there today was an entry, counted from passages, not from faces alone.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import local_tz
from core.errors import InvalidInput, NotFound
from core.viewer import Role, Viewer
from blockdata import audit, queries
from blockdata.models import Person
from analytics.police import MAX_SPAN, _authorise


@dataclass(frozen=True)
class Passage:
    """One gate passage of a trajectory: when, where (gate and its point), which way, how."""

    ts: dt.datetime
    gate: str
    place: str
    lon: float
    lat: float
    direction: str
    method: str


@dataclass(frozen=True)
class Inside:
    person: queries.PersonView
    since: dt.datetime
    gate: str


def last_day_with_data(session: Session) -> dt.date | None:
    """The latest local day that holds gate passages: a query window defaults to it, never to an empty today."""
    latest = session.execute(text("SELECT max(ts) FROM access_event WHERE person_id IS NOT NULL")).scalar()
    return latest.astimezone(local_tz()).date() if latest is not None else None


def day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), local_tz())
    return start, start + dt.timedelta(days=1)


def trajectory(session: Session, viewer: Viewer, person_id: int, *, reason: str, start: dt.datetime,
               end: dt.datetime) -> list[Passage]:
    """A person's passages between start and end, in time order, with each gate's position (audited)."""
    if end <= start or end - start > MAX_SPAN:
        raise InvalidInput(f"the period must be positive and at most {MAX_SPAN.days} days", record=viewer.username)
    _authorise(session, viewer, person_id, reason, "trajectory")
    rows = session.execute(text(
        """SELECT e.ts, g.name AS gate, coalesce(c.name, k.name, '') AS place, ST_X(g.geom) AS lon, ST_Y(g.geom) AS lat,
                  e.direction::text AS direction, e.method::text AS method
           FROM access_event e JOIN gate g ON g.id = e.gate_id
           LEFT JOIN compound c ON c.id = e.compound_id LEFT JOIN key_site k ON k.id = e.key_site_id
           WHERE e.person_id = :p AND e.result = 'open' AND e.ts >= :start AND e.ts < :end ORDER BY e.ts LIMIT 2000"""),
        {"p": person_id, "start": start, "end": end}).all()
    audit.record(session, viewer, "police.trajectory", f"person:{person_id}", reason=reason.strip(),
                 start=start.isoformat(), end=end.isoformat(), results=len(rows))
    return [Passage(r.ts, r.gate, r.place, float(r.lon), float(r.lat), r.direction, r.method) for r in rows]


def gate_points(session: Session, gate_ids: list[int]) -> dict[int, tuple[str, float, float]]:
    """Gate names and positions (places, not people) for drawing co-presence on the map."""
    if not gate_ids:
        return {}
    rows = session.execute(text("SELECT id, name, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM gate WHERE id = ANY(:ids)"),
                           {"ids": list(gate_ids)}).all()
    return {r.id: (r.name, float(r.lon), float(r.lat)) for r in rows}


def key_sites_of(session: Session, viewer: Viewer) -> list[tuple[int, str]]:
    """The key sites in the viewer's jurisdiction (id, name)."""
    return [(r.id, r.name) for r in session.execute(text(
        """SELECT k.id, k.name FROM key_site k JOIN grid g ON g.id = k.grid_id WHERE g.code LIKE ANY(:p) ORDER BY k.name"""),
        {"p": viewer.like_patterns})]


def inside_now(session: Session, viewer: Viewer, site_id: int, *, reason: str,
               now: dt.datetime | None = None) -> list[Inside]:
    """Who is inside a key site now: their last passage at its gates since local midnight was an entry."""
    if viewer.role is not Role.police:
        raise queries.deny(session, viewer, f"key_site:{site_id}", "who is inside a key site is for police (with a stated reason)")
    if not reason or len(reason.strip()) < 4:
        raise InvalidInput("who is inside a key site needs a stated reason (case number or purpose)", record=viewer.username)
    site = session.execute(text("SELECT k.id, k.name, g.code FROM key_site k JOIN grid g ON g.id = k.grid_id WHERE k.id = :k"),
                           {"k": site_id}).first()
    if site is None:
        raise NotFound(f"no key site {site_id}")
    if not viewer.covers(site.code):
        raise queries.deny(session, viewer, f"key_site:{site_id}", f"key site {site_id} lies outside your jurisdiction")
    now = now or dt.datetime.now(dt.timezone.utc)
    since = dt.datetime.combine(now.astimezone(local_tz()).date(), dt.time(0), local_tz())
    rows = session.execute(text(
        """SELECT DISTINCT ON (e.person_id) e.person_id, e.ts, e.direction::text AS direction, g.name AS gate
           FROM access_event e JOIN gate g ON g.id = e.gate_id
           WHERE e.key_site_id = :k AND e.person_id IS NOT NULL AND e.result = 'open' AND e.ts >= :since AND e.ts <= :now
           ORDER BY e.person_id, e.ts DESC"""), {"k": site_id, "since": since, "now": now}).all()
    inside = [r for r in rows if r.direction == "in"]
    people = {p.id: p for p in queries.person_views(
        session, viewer, [session.get(Person, r.person_id) for r in inside])}
    audit.record(session, viewer, "police.key_site_inside", f"key_site:{site_id}", reason=reason.strip(),
                 at=now.isoformat(), results=len(inside), person_ids=[r.person_id for r in inside])
    return sorted((Inside(people[r.person_id], r.ts, r.gate) for r in inside), key=lambda i: i.since)


def last_key_site_day(session: Session) -> dt.date | None:
    """The latest local day whose key-site counters hold flows: the 重点场所 page opens on it.

    Not "yesterday when today is partial": when the data began today, yesterday would be empty."""
    latest = session.execute(text(
        """SELECT max(f.minute) FROM gate_flow_minute f JOIN gate g ON g.id = f.gate_id
           WHERE g.key_site_id IS NOT NULL AND f.entries + f.exits > 0""")).scalar()
    return latest.astimezone(local_tz()).date() if latest is not None else None
