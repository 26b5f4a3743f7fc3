"""The query layer: hierarchy and look-ups, each taking the viewer first and filtering by jurisdiction.

Nothing here returns ORM objects: results are plain frozen records already masked for the
viewer's role, so a caller cannot leak a field the viewer may not see. Every read of people is
written to the audit log in the caller's transaction. A place outside the viewer's jurisdiction
is refused with AccessDenied (not silently emptied), so a forged request is visible as such.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from core.config import load_secrets
from core.errors import AccessDenied, InvalidInput, NotFound
from core.viewer import Role, Viewer, code_prefix
from blockdata import audit, disclosure
from blockdata.identity import hash_id_number
from blockdata.masking import name_for
from blockdata.models import (
    Building,
    Compound,
    Dwelling,
    Grid,
    Household,
    HouseholdMember,
    Person,
    PersonTag,
    Region,
    Relation,
    SRID,
)


@dataclass(frozen=True)
class Place:
    """A region or grid in the hierarchy."""

    code: str
    name: str
    level: str  # city, district, street, community, grid


@dataclass(frozen=True)
class GridInfo:
    id: int
    code: str
    name: str
    community_code: str


@dataclass(frozen=True)
class DwellingInfo:
    id: int
    code: str
    unit: int
    floor: int
    room: str
    area_m2: float
    rooms: int
    use: str


@dataclass(frozen=True)
class PersonView:
    """A person as this viewer may see them: the ID number is always masked."""

    id: int
    pid: str
    name: str
    id_masked: str
    sex: str
    age: int
    residence_kind: str
    tags: tuple[str, ...]
    household: str = ""           # the household's code, where the view is of a dwelling's people
    relation_to_head: str = ""    # 与户主关系, likewise
    lives_here_source: str = ""   # where the record of living there comes from (seed, import, work_order:N)


@dataclass(frozen=True)
class RelationView:
    kind: str
    target_kind: str  # person, dwelling, organisation
    target_id: int
    source: str
    confidence: float
    valid_from: dt.date
    valid_to: dt.date | None


# --- jurisdiction -----------------------------------------------------------------------------


def _region_visible(viewer: Viewer, code: str) -> bool:
    """A region is visible if it lies in the jurisdiction or contains part of it (to drill down to it)."""
    if viewer.covers(code):
        return True
    prefix = code_prefix(code)
    return any(p.startswith(prefix) for p in viewer.prefixes)


def deny(session: Session, viewer: Viewer, subject: str, message: str) -> AccessDenied:
    """Record a refused access in its own transaction (the caller's rolls back), then return the error."""
    with Session(session.get_bind()) as own, own.begin():
        audit.record(own, viewer, "access.denied", subject, reason=message)
    return AccessDenied(message, record=viewer.username)


def _require_grid(session: Session, viewer: Viewer, grid_code: str, subject: str) -> None:
    if not viewer.covers(grid_code):
        raise deny(session, viewer, subject, f"{subject} lies in grid {grid_code}, outside your jurisdiction")


def _grid_filter(viewer: Viewer):  # noqa: ANN202 - a SQLAlchemy boolean clause
    return Grid.code.like(func.any(viewer.like_patterns)) if viewer.role is not Role.admin else True


def visible_grid_ids(session: Session, viewer: Viewer) -> list[int]:
    return list(session.scalars(select(Grid.id).where(_grid_filter(viewer)).order_by(Grid.id)))


# --- hierarchy --------------------------------------------------------------------------------


def children(session: Session, viewer: Viewer, code: str) -> list[Place]:
    """Child regions of a region, or the grids of a community, that the viewer may see."""
    region = session.get(Region, code)
    if region is None:
        raise NotFound(f"no region with code {code}")
    if not _region_visible(viewer, code):
        raise deny(session, viewer, f"region:{code}", f"region {code} ({region.name}) is outside your jurisdiction")
    if region.level.value == "community":
        rows = session.scalars(select(Grid).where(Grid.community_code == code).order_by(Grid.code))
        return [Place(g.code, g.name, "grid") for g in rows if viewer.covers(g.code)]
    rows = session.scalars(select(Region).where(Region.parent_code == code).order_by(Region.code))
    return [Place(r.code, r.name, r.level.value) for r in rows if _region_visible(viewer, r.code)]


def grid_of_point(session: Session, viewer: Viewer, lon: float, lat: float) -> GridInfo | None:
    """The grid that covers a lon/lat point; None where no grid does."""
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)
    grid = session.scalars(select(Grid).where(func.ST_Covers(Grid.geom, point)).order_by(Grid.code).limit(1)).first()
    if grid is None:
        return None
    _require_grid(session, viewer, grid.code, f"point:{lon},{lat}")
    return GridInfo(grid.id, grid.code, grid.name, grid.community_code)


def _building_grid_code(session: Session, building_id: int) -> str:
    code = session.scalar(select(Grid.code).join(Building, Building.grid_id == Grid.id).where(Building.id == building_id))
    if code is None:
        raise NotFound(f"no building with id {building_id}")
    return code


def building_dwellings(session: Session, viewer: Viewer, building_id: int) -> list[DwellingInfo]:
    """A building's dwellings, floor by floor."""
    _require_grid(session, viewer, _building_grid_code(session, building_id), f"building:{building_id}")
    rows = session.scalars(
        select(Dwelling).where(Dwelling.building_id == building_id).order_by(Dwelling.unit, Dwelling.floor, Dwelling.room)
    )
    return [
        DwellingInfo(d.id, d.code, d.unit, d.floor, d.room, float(d.area_m2), d.rooms, d.use.value) for d in rows
    ]


# --- people (audited) -------------------------------------------------------------------------


def _dwelling_grid_code(session: Session, dwelling_id: int) -> str:
    code = session.scalar(
        select(Grid.code)
        .join(Building, Building.grid_id == Grid.id)
        .join(Dwelling, Dwelling.building_id == Building.id)
        .where(Dwelling.id == dwelling_id)
    )
    if code is None:
        raise NotFound(f"no dwelling with id {dwelling_id}")
    return code


def _age(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def person_views(session: Session, viewer: Viewer, people: list[Person]) -> list[PersonView]:
    """Masked for the viewer's role; tags only while their legal basis lasts and the role may see them."""
    ids = [p.id for p in people]
    tags: dict[int, list[str]] = {}
    today = dt.date.today()
    if ids:
        for person_id, tag, expiry in session.execute(
            select(PersonTag.person_id, PersonTag.tag, PersonTag.legal_basis_expiry)
            .where(PersonTag.person_id.in_(ids)).order_by(PersonTag.tag)
        ):
            if disclosure.tag_visible(viewer, tag.value, expiry, today):
                tags.setdefault(person_id, []).append(tag.value)
    return [
        PersonView(
            id=p.id, pid=str(p.pid), name=name_for(viewer, p.name), id_masked=p.id_masked, sex=p.sex.value,
            age=_age(p.birth_date, today), residence_kind=p.residence_kind.value, tags=tuple(tags.get(p.id, ())),
        )
        for p in people
    ]


def dwelling_people(session: Session, viewer: Viewer, dwelling_id: int, *, reason: str | None = None) -> list[PersonView]:
    """Who lives in a dwelling: its residents and the members of households registered there."""
    _require_grid(session, viewer, _dwelling_grid_code(session, dwelling_id), f"dwelling:{dwelling_id}")
    members = select(HouseholdMember.person_id).join(Household).where(Household.dwelling_id == dwelling_id)
    people = list(
        session.scalars(
            select(Person).where(or_(Person.home_dwelling_id == dwelling_id, Person.id.in_(members))).order_by(Person.id)
        )
    )
    audit.record(session, viewer, "dwelling.people", f"dwelling:{dwelling_id}", reason=reason, count=len(people),
                 people=[p.id for p in people])  # who they were, not only how many
    membership = {
        r.person_id: (r.code, r.relation_to_head or "")
        for r in session.execute(
            select(Household.code, HouseholdMember.person_id, HouseholdMember.relation_to_head)
            .join(HouseholdMember, HouseholdMember.household_id == Household.id)
            .where(Household.dwelling_id == dwelling_id)
        )
    }
    # provenance of living here: the seed, an import, or the work order that registered the person
    sources = dict(session.execute(text(
        """SELECT DISTINCT ON (person_id) person_id, source FROM relation
           WHERE dwelling_id = :d AND kind = 'lives_in' AND valid_to IS NULL ORDER BY person_id, id DESC"""),
        {"d": dwelling_id}).all())
    return [replace(v, household=membership.get(v.id, ("", ""))[0], relation_to_head=membership.get(v.id, ("", ""))[1],
                    lives_here_source=sources.get(v.id) or "")
            for v in person_views(session, viewer, people)]


def person_home(session: Session, viewer: Viewer, person_id: int) -> int | None:
    """The dwelling a breadcrumb may go through: the person's home if the viewer's jurisdiction covers it,
    else the first dwelling they hold a live relation to inside it, else None — a breadcrumb must never
    say where someone lives outside the viewer's jurisdiction. Names no one: not audited."""
    rows = session.execute(text(
        """SELECT d.id, g.code, (d.id = p.home_dwelling_id) AS home FROM person p
           JOIN dwelling d ON d.id = p.home_dwelling_id
             OR d.id IN (SELECT r.dwelling_id FROM relation r WHERE r.person_id = p.id AND r.dwelling_id IS NOT NULL
                         AND (r.valid_to IS NULL OR r.valid_to >= current_date))
           JOIN building b ON b.id = d.building_id JOIN grid g ON g.id = b.grid_id
           WHERE p.id = :id ORDER BY home DESC, d.id"""), {"id": person_id})
    for row in rows:
        if viewer.role is Role.admin or viewer.covers(row.code):
            return row.id
    return None


def _person_grid_codes(session: Session, person_id: int) -> set[str]:
    """The grids a person is tied to: their home dwelling and every dwelling they hold a live relation to
    (one that ended opens the person to no one)."""
    dwelling_ids = select(Relation.dwelling_id).where(
        Relation.person_id == person_id, Relation.dwelling_id.isnot(None),
        or_(Relation.valid_to.is_(None), Relation.valid_to >= dt.date.today()))
    home = select(Person.home_dwelling_id).where(Person.id == person_id)
    return set(
        session.scalars(
            select(Grid.code)
            .join(Building, Building.grid_id == Grid.id)
            .join(Dwelling, Dwelling.building_id == Building.id)
            .where(or_(Dwelling.id.in_(dwelling_ids), Dwelling.id.in_(home)))
        )
    )


def require_person(session: Session, viewer: Viewer, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    if viewer.role is not Role.admin and not any(viewer.covers(c) for c in _person_grid_codes(session, person_id)):
        raise deny(session, viewer, f"person:{person_id}", f"person {person_id} has no home or tie in your jurisdiction")
    return person


def person(session: Session, viewer: Viewer, person_id: int, *, reason: str | None = None) -> PersonView:
    found = require_person(session, viewer, person_id)
    audit.record(session, viewer, "person.view", f"person:{person_id}", reason=reason)
    return person_views(session, viewer, [found])[0]


def person_relations(session: Session, viewer: Viewer, person_id: int, *, reason: str | None = None) -> list[RelationView]:
    """A person's relations to people, dwellings and organisations, with provenance."""
    require_person(session, viewer, person_id)
    rows = list(session.scalars(select(Relation).where(Relation.person_id == person_id).order_by(Relation.id)))
    audit.record(session, viewer, "person.relations", f"person:{person_id}", reason=reason, count=len(rows),
                 people=sorted({r.other_person_id for r in rows if r.other_person_id is not None}))
    views = []
    for r in rows:
        if r.other_person_id is not None:
            target = ("person", r.other_person_id)
        elif r.dwelling_id is not None:
            target = ("dwelling", r.dwelling_id)
        else:
            target = ("organisation", r.organisation_id)
        views.append(RelationView(r.kind.value, target[0], target[1], r.source, r.confidence, r.valid_from, r.valid_to))
    return views


def person_by_id_number(session: Session, viewer: Viewer, id_number: str, *, reason: str) -> PersonView | None:
    """Police and admins find a person by ID number (matched by keyed hash); a stated reason is required."""
    if viewer.role not in (Role.police, Role.admin):
        raise deny(session, viewer, "person:lookup_id", "only police and administrators may look people up by ID number")
    if not reason or len(reason.strip()) < 4:
        raise InvalidInput("a look-up by ID number needs a stated reason", record=viewer.username)
    digest = hash_id_number(load_secrets().id_hash_key, id_number)
    found = session.scalars(select(Person).where(Person.id_hash == digest)).first()
    audit.record(
        session, viewer, "person.lookup_id", f"person:{found.id}" if found else "person:none", reason=reason,
        found=found is not None,
    )
    if found is None:
        return None
    if viewer.role is not Role.admin and not any(viewer.covers(c) for c in _person_grid_codes(session, found.id)):
        raise deny(session, viewer, f"person:{found.id}", "that person has no home or tie in your jurisdiction")
    return person_views(session, viewer, [found])[0]



# --- drill-down (dashboard 网格 page) ---------------------------------------------------------


@dataclass(frozen=True)
class BuildingInfo:
    id: int
    code: str
    name: str
    compound: str | None
    floors: int
    units: int
    dwellings: int


@dataclass(frozen=True)
class AccessView:
    """One gate passage of a person, as the drill-down shows it (no score, no face data)."""

    ts: dt.datetime
    gate: str
    place: str
    direction: str
    method: str
    result: str


def grid_buildings(session: Session, viewer: Viewer, grid_code: str) -> list[BuildingInfo]:
    """The buildings of one grid; a grid outside the jurisdiction is refused and audited."""
    grid = session.scalars(select(Grid).where(Grid.code == grid_code)).first()
    if grid is None:
        raise NotFound(f"no grid with code {grid_code}")
    _require_grid(session, viewer, grid.code, f"grid:{grid_code}")
    rows = session.execute(
        select(Building, Compound.name, func.count(Dwelling.id))
        .outerjoin(Compound, Compound.id == Building.compound_id)
        .outerjoin(Dwelling, Dwelling.building_id == Building.id)
        .where(Building.grid_id == grid.id)
        .group_by(Building.id, Compound.name)
        .order_by(Building.code)
    ).all()
    return [BuildingInfo(b.id, b.code, b.name, c, b.floors, b.units, n) for b, c, n in rows]


def person_access_history(session: Session, viewer: Viewer, person_id: int, *, reason: str, limit: int = 50,
                          ) -> list[AccessView]:
    """A person's latest gate passages (how they move), newest first: police work (blockdata/disclosure.py),
    with a stated reason, only the passages at gates inside the viewer's jurisdiction; audited."""
    if not disclosure.may_see_movement(viewer):
        raise deny(session, viewer, f"person:{person_id}",
                   "a person's gate passages are shown only to police, with a stated reason")
    if not reason or len(reason.strip()) < disclosure.MIN_REASON:
        raise deny(session, viewer, f"person:{person_id}",
                   f"state the reason (case number or purpose, at least {disclosure.MIN_REASON} characters)")
    require_person(session, viewer, person_id)
    rows = session.execute(
        text(
            """SELECT e.ts, g.name AS gate, coalesce(c.name, k.name, '') AS place, e.direction::text, e.method::text,
                      e.result::text
               FROM access_event e JOIN gate g ON g.id = e.gate_id
               LEFT JOIN compound c ON c.id = e.compound_id LEFT JOIN key_site k ON k.id = e.key_site_id
               LEFT JOIN grid kg ON kg.id = k.grid_id
               WHERE e.person_id = :p AND coalesce(c.community_code, kg.code, '') LIKE ANY(:patterns)
               ORDER BY e.ts DESC LIMIT :n"""
        ),
        # compound gates by their community's code, key sites' by their grid's
        {"p": person_id, "n": max(1, min(limit, 500)), "patterns": viewer.like_patterns},
    ).all()
    audit.record(session, viewer, "person.access_history", f"person:{person_id}", reason=reason.strip(), count=len(rows))
    return [AccessView(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


# --- one search (一搜) and the police workbench -----------------------------------------------

NAME_MIN_CHARS = 2
NAME_RESULTS_CAP = 50


@dataclass(frozen=True)
class PersonHit:
    """A person found by name, as this viewer may see them, with the dwelling they live in (to open it)."""

    person: PersonView
    home_dwelling_id: int | None


def _visible_people(session: Session, viewer: Viewer, ids: list[int]) -> set[int]:
    """Of these people, those with a home or a tie to a dwelling in the viewer's jurisdiction.

    Driven by the candidates' ids (their homes and relations), so its cost is per candidate, not per
    dwelling of the jurisdiction (as an EXISTS the planner would hash the whole jurisdiction first)."""
    if viewer.role is Role.admin or not ids:
        return set(ids)
    return set(session.execute(text(
        """SELECT DISTINCT x.pid FROM (
             SELECT id AS pid, home_dwelling_id AS did FROM person WHERE id = ANY(:ids) AND home_dwelling_id IS NOT NULL
             UNION ALL SELECT person_id, dwelling_id FROM relation WHERE person_id = ANY(:ids) AND dwelling_id IS NOT NULL
           ) x JOIN dwelling d ON d.id = x.did JOIN building b ON b.id = d.building_id JOIN grid g ON g.id = b.grid_id
           WHERE g.code LIKE ANY(:patterns)"""), {"ids": ids, "patterns": viewer.like_patterns}).scalars())


def person_in_jurisdiction_by_id_number(session: Session, viewer: Viewer, id_number: str, *,
                                        reason: str) -> PersonHit | None:
    """The person with this ID number, if they have a home or tie in the viewer's jurisdiction (any role).

    Why any role may: the one typing already holds the number (a resident at the door, a form), and the
    answer is confined to people the viewer may open anyway; it is the same look-up as by name, only
    exact. Outside the jurisdiction the answer is "none", the same as for an unknown number, so the box
    does not tell whether a number exists elsewhere (that is police work, with a reason, on 警务). The
    number is matched by its keyed hash and never stored or logged in clear; the read is audited.
    """
    if not reason or len(reason.strip()) < 2:
        raise InvalidInput("a look-up of a person by ID number needs a stated reason", record=viewer.username)
    digest = hash_id_number(load_secrets().id_hash_key, id_number)
    found = session.scalars(select(Person).where(Person.id_hash == digest)).first()
    visible = found is not None and found.id in _visible_people(session, viewer, [found.id])
    audit.record(session, viewer, "person.search_id", f"person:{found.id}" if visible else "person:none",
                 reason=reason.strip(), found=visible)
    if not visible:
        return None
    return PersonHit(person_views(session, viewer, [found])[0], found.home_dwelling_id)


def people_by_name(session: Session, viewer: Viewer, name: str, *, reason: str,
                   limit: int = 20) -> list[PersonHit]:
    """People whose name starts with ``name``, only those with a home or tie in the viewer's jurisdiction.

    Why a prefix of at least two characters: a surname alone (张) would list half a street, which is
    enumeration, not a look-up. The read is audited with the reason and the number found (never the
    names); the names come back masked as the viewer's role requires.
    """
    name = (name or "").strip()
    if len(name) < NAME_MIN_CHARS:
        raise InvalidInput(f"type at least {NAME_MIN_CHARS} characters of the name", record=viewer.username)
    if not reason or len(reason.strip()) < 2:
        raise InvalidInput("a look-up of people by name needs a stated reason", record=viewer.username)
    limit = max(1, min(limit, NAME_RESULTS_CAP))
    candidates = list(session.execute(
        text("SELECT id FROM person WHERE name LIKE :prefix ORDER BY name, id LIMIT 1000"),
        {"prefix": name.replace("%", "").replace("_", "") + "%"}).scalars())
    visible = _visible_people(session, viewer, candidates)
    ids = [i for i in candidates if i in visible][:limit]
    people = list(session.scalars(select(Person).where(Person.id.in_(ids)).order_by(Person.name, Person.id))) if ids else []
    audit.record(session, viewer, "person.search_name", f"search:name:{len(name)}chars", reason=reason.strip(),
                 count=len(people), person_ids=[p.id for p in people])
    views = person_views(session, viewer, people)
    return [PersonHit(v, p.home_dwelling_id) for v, p in zip(views, people)]
