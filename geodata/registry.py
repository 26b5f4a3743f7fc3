"""Validated writes of places: each refuses bad input with a typed error naming the record and why.

Checks run twice on purpose: here, to give a person a precise message before anything is sent,
and in the database (CHECKs, triggers, unique keys), so that no other path can store what these
refuse. A database refusal is translated back into the same typed errors. Callers run these in
one transaction (geodata.db.transaction), so a batch that fails part-way writes nothing.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from geoalchemy2.shape import from_shape
from psycopg import errors as pg_errors
from shapely.geometry import MultiPolygon
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from core.errors import BadCodeFormat, DuplicateCode, InvalidInput, NotFound, OutsideParent
from core.viewer import REGION_CODE
from geodata.geometry import validated
from geodata.models import (
    SRID,
    Building,
    Compound,
    Dwelling,
    DwellingUse,
    Gate,
    GateKind,
    Grid,
    Region,
    RegionLevel,
)

T = TypeVar("T")
_GRID_SEQ = re.compile(r"^\d{3}$")
_PLACE_CODE = re.compile(r"^[A-Za-z0-9-]{3,32}$")

_LEVEL_PARENT = {
    RegionLevel.district: RegionLevel.city,
    RegionLevel.street: RegionLevel.district,
    RegionLevel.community: RegionLevel.street,
}


def _flush(session: Session, obj: T, record: str) -> T:
    """Add and flush inside a savepoint so a refusal leaves the caller's transaction usable."""
    try:
        with session.begin_nested():
            session.add(obj)
            session.flush()
    except IntegrityError as exc:
        raise _translate(exc, record) from exc
    except DBAPIError as exc:
        if isinstance(exc.orig, pg_errors.CheckViolation):
            raise _translate(exc, record) from exc
        raise
    return obj


def _translate(exc: DBAPIError, record: str) -> InvalidInput:
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or ""
    message = (getattr(diag, "message_primary", None) or str(orig)).strip()
    if isinstance(orig, pg_errors.UniqueViolation):
        return DuplicateCode(f"already exists ({getattr(diag, 'message_detail', '') or constraint})", record=record)
    if isinstance(orig, pg_errors.ForeignKeyViolation):
        return NotFound(f"refers to a missing record ({getattr(diag, 'message_detail', '') or constraint})", record=record)
    if "inside" in constraint or "outside" in message or "does not lie" in message:
        return OutsideParent(message, record=record)
    if "code" in constraint:
        return BadCodeFormat(f"{message} ({constraint})", record=record)
    return InvalidInput(f"{message} ({constraint})" if constraint else message, record=record)


def _need(session: Session, model: type[T], key: Any, record: str, what: str) -> T:
    obj = session.get(model, key)
    if obj is None:
        raise NotFound(f"{what} {key} does not exist", record=record)
    return obj


def add_region(
    session: Session, *, code: str, name: str, level: RegionLevel, parent_code: str | None, geom: Any = None
) -> Region:
    record = f"region {code}"
    if not REGION_CODE.match(code):
        raise BadCodeFormat("a region code has exactly 12 digits (6 county + 3 street + 3 community)", record=record)
    if level is RegionLevel.city:
        if parent_code is not None:
            raise InvalidInput("a city has no parent region", record=record)
    else:
        if parent_code is None:
            raise InvalidInput(f"a {level.value} needs a parent {_LEVEL_PARENT[level].value}", record=record)
        parent = _need(session, Region, parent_code, record, "parent region")
        if parent.level is not _LEVEL_PARENT[level]:
            raise InvalidInput(
                f"a {level.value}'s parent must be a {_LEVEL_PARENT[level].value}, {parent_code} is a {parent.level.value}",
                record=record,
            )
    shape_ = None
    if geom is not None:
        shape_ = validated(geom, kinds=("Polygon", "MultiPolygon"), record=record)
        if shape_.geom_type == "Polygon":
            shape_ = MultiPolygon([shape_])
    region = Region(
        code=code, name=name, level=level, parent_code=parent_code,
        geom=from_shape(shape_, srid=SRID) if shape_ is not None else None,
    )
    return _flush(session, region, record)


def add_grid(session: Session, *, community_code: str, sequence: str, name: str, geom: Any) -> Grid:
    record = f"grid {community_code}{sequence}"
    if not _GRID_SEQ.match(sequence):
        raise BadCodeFormat("a grid sequence has exactly 3 digits", record=record)
    community = _need(session, Region, community_code, record, "community")
    if community.level is not RegionLevel.community:
        raise InvalidInput(f"{community_code} is a {community.level.value}, not a community", record=record)
    shape_ = validated(geom, kinds=("Polygon",), record=record)
    grid = Grid(code=community_code + sequence, community_code=community_code, name=name, geom=from_shape(shape_, srid=SRID))
    return _flush(session, grid, record)


def _check_place_code(code: str, record: str) -> None:
    if not _PLACE_CODE.match(code):
        raise BadCodeFormat("a place code has 3–32 letters, digits or hyphens", record=record)


def add_compound(session: Session, *, code: str, name: str, community_code: str, geom: Any) -> Compound:
    record = f"compound {code}"
    _check_place_code(code, record)
    _need(session, Region, community_code, record, "community")
    shape_ = validated(geom, kinds=("Polygon",), record=record)
    return _flush(session, Compound(code=code, name=name, community_code=community_code, geom=from_shape(shape_, srid=SRID)), record)


def add_gate(
    session: Session, *, code: str, name: str, kind: GateKind, geom: Any,
    compound_id: int | None = None, key_site_id: int | None = None,
) -> Gate:
    record = f"gate {code}"
    _check_place_code(code, record)
    if (compound_id is None) == (key_site_id is None):
        raise InvalidInput("a gate belongs to exactly one compound or key site", record=record)
    shape_ = validated(geom, kinds=("Point",), record=record)
    gate = Gate(code=code, name=name, kind=kind, compound_id=compound_id, key_site_id=key_site_id, geom=from_shape(shape_, srid=SRID))
    return _flush(session, gate, record)


def add_building(
    session: Session, *, code: str, name: str, grid_id: int, floors: int, geom: Any,
    compound_id: int | None = None, units: int = 1, height_m: float | None = None,
) -> Building:
    record = f"building {code}"
    _check_place_code(code, record)
    if not 1 <= floors <= 200:
        raise InvalidInput(f"floors must be 1–200, got {floors}", record=record)
    shape_ = validated(geom, kinds=("Polygon",), record=record)
    building = Building(
        code=code, name=name, grid_id=grid_id, compound_id=compound_id, floors=floors, units=units,
        height_m=height_m if height_m is not None else floors * 3.0, geom=from_shape(shape_, srid=SRID),
    )
    return _flush(session, building, record)


def add_dwelling(
    session: Session, *, code: str, building_id: int, unit: int, floor: int, room: str,
    area_m2: float, rooms: int = 1, use: DwellingUse = DwellingUse.residential,
) -> Dwelling:
    record = f"dwelling {code}"
    _check_place_code(code, record)
    if not area_m2 > 0:
        raise InvalidInput(f"floor area must be > 0 m², got {area_m2}", record=record)
    building = _need(session, Building, building_id, record, "building")
    if floor == 0 or floor > building.floors or unit < 1 or unit > building.units:
        raise OutsideParent(
            f"unit {unit}, floor {floor} lies outside building {building.code} "
            f"({building.units} units, {building.floors} floors)",
            record=record,
        )
    dwelling = Dwelling(
        code=code, building_id=building_id, unit=unit, floor=floor, room=room, area_m2=area_m2, rooms=rooms, use=use
    )
    return _flush(session, dwelling, record)


def add_all(session: Session, add: Callable[..., T], rows: Sequence[Mapping[str, Any]]) -> list[T]:
    """Add a batch through one validated writer; the first refusal aborts the caller's transaction."""
    return [add(session, **row) for row in rows]


def grid_containing(session: Session, lon: float, lat: float) -> Grid | None:
    """The grid whose polygon covers a point (grids tile their communities, so at most one)."""
    point = f"SRID={SRID};POINT({lon} {lat})"
    return session.scalars(select(Grid).where(Grid.geom.ST_Covers(point)).limit(1)).first()
