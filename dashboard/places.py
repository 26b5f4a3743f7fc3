"""Places of the drill-down as URL values (``?place=grid:320106001004001``) and their breadcrumb chains.

A place is ``kind:key``: region (any level, by code), grid (code), building (id), floor (building id
and floor, ``12-3``), dwelling (id), person (id). Breadcrumbs are names of places only; a person's
own crumb uses the masked view the query layer returns. Every check of jurisdiction is the query
layer's (blockdata/queries.py), which refuses and audits.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from sqlalchemy import text
from sqlalchemy.orm import Session

from blockdata import queries
from core.errors import InvalidInput
from core.viewer import Role, Viewer

KINDS = ("region", "grid", "building", "floor", "dwelling", "person")


@dataclass(frozen=True)
class Place:
    kind: str
    key: str

    @property
    def value(self) -> str:
        return f"{self.kind}:{self.key}"

    @property
    def href(self) -> str:
        return f"/drill?place={self.value}"


def parse(search: str | None) -> Place | None:
    """The place in a URL query string; None when there is none; InvalidInput when it is malformed."""
    values = parse_qs((search or "").lstrip("?")).get("place")
    if not values:
        return None
    kind, _, key = values[0].partition(":")
    if kind not in KINDS or not key or len(key) > 40:
        raise InvalidInput(f"not a place: {values[0]!r}")
    if kind == "floor":
        building, _, floor = key.partition("-")
        if not building.isdigit() or not floor.lstrip("-").isdigit():
            raise InvalidInput(f"not a floor: {key!r}")
    elif not key.isdigit():
        raise InvalidInput(f"not a place key: {key!r}")
    return Place(kind, key)


def root(session: Session, viewer: Viewer) -> Place:
    """Where the viewer's drill-down starts: their jurisdiction's top (the first street for an admin)."""
    if viewer.role is Role.admin or not viewer.jurisdiction:
        code = session.execute(text("SELECT code FROM region WHERE level = 'street' ORDER BY code LIMIT 1")).scalar()
        return Place("region", code or "320100000000")
    code = viewer.jurisdiction[0]
    return Place("grid" if len(code) == 15 else "region", code)


_REGION_CHAIN = text(
    """WITH RECURSIVE up AS (
         SELECT code, parent_code, name, level::text AS level, 0 AS depth FROM region WHERE code = :code
         UNION ALL SELECT r.code, r.parent_code, r.name, r.level::text, up.depth + 1 FROM region r JOIN up ON r.code = up.parent_code)
       SELECT code, name, level FROM up ORDER BY depth DESC"""
)
_BUILDING = text(
    """SELECT b.id, b.name, coalesce(c.name, '') AS compound, g.code AS grid, g.name AS grid_name, g.community_code
       FROM building b JOIN grid g ON g.id = b.grid_id LEFT JOIN compound c ON c.id = b.compound_id WHERE b.id = :id"""
)
_DWELLING = text("SELECT building_id, unit, floor, room FROM dwelling WHERE id = :id")


def region_chain(session: Session, code: str) -> list[tuple[str, str]]:
    return [(f"region:{r.code}", r.name) for r in session.execute(_REGION_CHAIN, {"code": code})
            if r.level not in ("city", "district")]


def chain(session: Session, viewer: Viewer, place: Place, person_label: str | None = None) -> list[tuple[str, str]]:
    """(place value, label) from the street down to the place (labels only, no people but the last crumb).
    A person's crumbs go up through their home only where the viewer's jurisdiction holds it."""
    if place.kind == "region":
        return region_chain(session, place.key)
    if place.kind == "grid":
        row = session.execute(text("SELECT name, community_code FROM grid WHERE code = :c"), {"c": place.key}).first()
        return (region_chain(session, row.community_code) + [(place.value, row.name)]) if row else []
    if place.kind in ("building", "floor"):
        building_id, _, floor = place.key.partition("-")
        b = session.execute(_BUILDING, {"id": int(building_id)}).first()
        if b is None:
            return []
        crumbs = region_chain(session, b.community_code) + [(f"grid:{b.grid}", b.grid_name),
                                                           (f"building:{b.id}", f"{b.compound} {b.name}".strip())]
        return crumbs + ([(place.value, f"{floor} 层")] if floor else [])
    if place.kind == "dwelling":
        d = session.execute(_DWELLING, {"id": int(place.key)}).first()
        if d is None:
            return []
        return chain(session, viewer, Place("floor", f"{d.building_id}-{d.floor}")) + [(place.value, f"{d.unit} 单元 {d.room} 室")]
    if place.kind == "person":
        home = queries.person_home(session, viewer, int(place.key))
        up = chain(session, viewer, Place("dwelling", str(home))) if home else []
        return up + [(place.value, person_label or "人员")]
    return []
