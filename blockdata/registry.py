"""Validated writes of places: each refuses bad input with a typed error naming the record and why.

Checks run twice on purpose: here, to give a person a precise message before anything is sent,
and in the database (CHECKs, triggers, unique keys), so that no other path can store what these
refuse. A database refusal is translated back into the same typed errors. Callers run these in
one transaction (blockdata.db.transaction), so a batch that fails part-way writes nothing.
"""
from __future__ import annotations

import datetime as dt
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
from blockdata.geometry import validated
from blockdata.identity import hash_id_number, mask_id_number, validate_id_number
from blockdata.models import (
    SRID,
    Address,
    AddressKind,
    Building,
    Compound,
    Dwelling,
    DwellingUse,
    Gate,
    GateKind,
    Grid,
    KeySite,
    KeySiteCategory,
    Ownership,
    Person,
    Region,
    RegionLevel,
    Rental,
    ResidenceKind,
    Sex,
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
        if isinstance(exc.orig, (pg_errors.CheckViolation, pg_errors.StringDataRightTruncation)):
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
    session: Session, *, code: str, name: str, level: RegionLevel, parent_code: str | None, geom: Any = None,
    location: Any = None,
) -> Region:
    """A region with a polygon, a point (``location``: official lists give streets and communities as
    code, name and a point; no polygon is invented for them), both or neither."""
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
    point = validated(location, kinds=("Point",), record=record) if location is not None else None
    region = Region(
        code=code, name=name, level=level, parent_code=parent_code,
        geom=from_shape(shape_, srid=SRID) if shape_ is not None else None,
        location=from_shape(point, srid=SRID) if point is not None else None,
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


def _check_place_code(code: str, record: str, model: type | None = None) -> None:
    if not _PLACE_CODE.match(code):
        raise BadCodeFormat("a place code has 3–32 letters, digits or hyphens", record=record)
    limit = model.__table__.c.code.type.length if model is not None else None
    if limit is not None and len(code) > limit:
        raise BadCodeFormat(f"a {model.__tablename__.replace('_', ' ')} code has at most {limit} characters, "
                            f"{code!r} has {len(code)}", record=record)


def add_compound(session: Session, *, code: str, name: str, community_code: str, geom: Any) -> Compound:
    record = f"compound {code}"
    _check_place_code(code, record, Compound)
    _need(session, Region, community_code, record, "community")
    shape_ = validated(geom, kinds=("Polygon",), record=record)
    return _flush(session, Compound(code=code, name=name, community_code=community_code, geom=from_shape(shape_, srid=SRID)), record)


def add_gate(
    session: Session, *, code: str, name: str, kind: GateKind, geom: Any,
    compound_id: int | None = None, key_site_id: int | None = None,
) -> Gate:
    record = f"gate {code}"
    _check_place_code(code, record, Gate)
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
    _check_place_code(code, record, Building)
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
    _check_place_code(code, record, Dwelling)
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


def add_key_site(
    session: Session, *, code: str, name: str, category: KeySiteCategory, geom: Any,
    grid_id: int | None = None, capacity: int | None = None,
) -> KeySite:
    record = f"key site {code}"
    _check_place_code(code, record, KeySite)
    if not isinstance(category, KeySiteCategory):
        raise InvalidInput(f"unknown category {category!r}: one of {', '.join(c.value for c in KeySiteCategory)}", record=record)
    if capacity is not None and capacity <= 0:
        raise InvalidInput(f"capacity must be > 0, got {capacity}", record=record)
    if grid_id is not None:
        _need(session, Grid, grid_id, record, "grid")
    shape_ = validated(geom, kinds=("Polygon",), record=record)
    site = KeySite(code=code, name=_name(name, record, 64), category=category, grid_id=grid_id, capacity=capacity,
                   geom=from_shape(shape_, srid=SRID))
    return _flush(session, site, record)


def _name(value: Any, record: str, limit: int, what: str = "name") -> str:
    text = str(value or "").strip()
    if not text:
        raise InvalidInput(f"no {what}", record=record)
    return text[:limit]


_ADDRESS_PARTS = ("district", "street", "road", "number", "compound", "building", "unit", "floor", "room")


def add_address(
    session: Session, *, code: str, kind: AddressKind, full_text: str, parts: Any = None,
    region_code: str | None = None, geom: Any = None, standard_id: int | None = None,
) -> Address:
    """An address of the unified address base. ``parts`` (a ParsedAddress) are what the intake stage's
    parser read from ``full_text``: the base stores them and does not parse (parsing is intake's job, and
    the base must not import the stage above it); None leaves the parts empty. A part longer than its
    column is cut to it (the full text is always kept whole)."""
    record = f"address {code}"
    if not code or len(code) > Address.__table__.c.code.type.length or any(c.isspace() for c in code):
        raise BadCodeFormat("an address code has 1–32 characters and no spaces", record=record)
    if not isinstance(kind, AddressKind):
        raise InvalidInput(f"unknown address kind {kind!r}: one of {', '.join(k.value for k in AddressKind)}", record=record)
    text = _name(full_text, record, 10_000, "address text")
    shape_ = validated(geom, kinds=("Point",), record=record) if geom is not None else None
    if kind is AddressKind.point and shape_ is None:
        raise InvalidInput("a point address needs a point (lon/lat)", record=record)
    if standard_id is not None:
        if kind is not AddressKind.non_standard:
            raise InvalidInput("only a non-standard address links to a standard one", record=record)
        target = _need(session, Address, standard_id, record, "standard address")
        if target.kind is not AddressKind.standard:
            raise InvalidInput(f"address {target.code} is {target.kind.value}, not standard", record=record)
    if region_code is not None:
        _need(session, Region, region_code, record, "region")
    columns = Address.__table__.c
    values = {}
    for part in _ADDRESS_PARTS:
        v = getattr(parts, part, None)
        values[part] = v[: columns[part].type.length] if v else None
    address = Address(code=code, kind=kind, full_text=text, region_code=region_code, standard_id=standard_id,
                      geom=from_shape(shape_, srid=SRID) if shape_ is not None else None, **values)
    return _flush(session, address, record)


def add_person(
    session: Session, *, id_number: str, name: str, residence_kind: ResidenceKind = ResidenceKind.resident,
    sex: Sex | None = None, birth_date: dt.date | None = None, temp_residence_expiry: dt.date | None = None,
    phone: str | None = None, home_dwelling_id: int | None = None, key: bytes | None = None,
    today: dt.date | None = None,
) -> Person:
    """A person from their ID number, which is checked (GB 11643), kept only as a keyed hash and a masked
    form, and dropped. A given sex or birth date must agree with the number; errors name the masked form."""
    number = validate_id_number(str(id_number))
    masked = mask_id_number(number)
    record = f"person {masked}"
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput(f"the ID number's birth date {number[6:14]} is not a date", record=record) from None
    if born > (today or dt.date.today()):
        raise InvalidInput(f"birth date {born} is in the future", record=record)
    if birth_date is not None and birth_date != born:
        raise InvalidInput(f"birth date {birth_date} differs from the ID number's {born}", record=record)
    id_sex = Sex.male if int(number[16]) % 2 else Sex.female
    if sex is not None and sex is not id_sex:
        raise InvalidInput(f"sex {sex.value} contradicts the ID number", record=record)
    if not isinstance(residence_kind, ResidenceKind):
        raise InvalidInput(f"unknown residence kind {residence_kind!r}", record=record)
    if residence_kind in (ResidenceKind.floating, ResidenceKind.overseas) and temp_residence_expiry is None:
        raise InvalidInput(f"a {residence_kind.value} resident needs a temporary-residence expiry", record=record)
    if home_dwelling_id is not None:
        _need(session, Dwelling, home_dwelling_id, record, "dwelling")
    digits = re.sub(r"\D", "", phone or "")
    if key is None:
        from core.config import load_secrets

        key = load_secrets().id_hash_key
    person = Person(
        id_hash=hash_id_number(key, number), id_masked=masked, name=_name(name, record, 64), sex=id_sex,
        birth_date=born, residence_kind=residence_kind, temp_residence_expiry=temp_residence_expiry,
        phone_masked=(digits[:3] + "****" + digits[-4:]) if len(digits) == 11 else None,
        home_dwelling_id=home_dwelling_id,
    )
    try:
        return _flush(session, person, record)
    except DuplicateCode:
        raise DuplicateCode("this person (ID number) is already in the population base", record=record) from None


def _not_future(value: dt.date | None, what: str, record: str, today: dt.date | None) -> None:
    if value is not None and value > (today or dt.date.today()):
        raise InvalidInput(f"{what} {value} is in the future", record=record)


def add_ownership(
    session: Session, *, dwelling_id: int, person_id: int, since: dt.date, share: float = 1.0,
    today: dt.date | None = None,
) -> Ownership:
    record = f"ownership of dwelling {dwelling_id} by person {person_id}"
    if since is None:
        raise InvalidInput("an ownership needs its start date (since)", record=record)
    _not_future(since, "ownership date", record, today)
    if not 0 < share <= 1:
        raise InvalidInput(f"share must be in (0, 1], got {share}", record=record)
    _need(session, Dwelling, dwelling_id, record, "dwelling")
    _need(session, Person, person_id, record, "person")
    try:
        return _flush(session, Ownership(dwelling_id=dwelling_id, person_id=person_id, share=share, since=since), record)
    except DuplicateCode:
        raise DuplicateCode("this person already owns this dwelling", record=record) from None


def add_rental(
    session: Session, *, dwelling_id: int, lessor_person_id: int, lessee_person_id: int, start_date: dt.date,
    end_date: dt.date | None = None, sublessor_person_id: int | None = None, monthly_rent: float | None = None,
    blacklisted: bool = False, blacklist_reason: str | None = None, today: dt.date | None = None,
) -> Rental:
    record = f"rental of dwelling {dwelling_id}"
    if start_date is None:
        raise InvalidInput("a rental needs its start date", record=record)
    _not_future(start_date, "rental start", record, today)
    if end_date is not None and end_date < start_date:
        raise InvalidInput(f"end {end_date} before start {start_date}", record=record)
    if lessor_person_id == lessee_person_id:
        raise InvalidInput("lessor and lessee are the same person", record=record)
    if monthly_rent is not None and monthly_rent < 0:
        raise InvalidInput(f"monthly rent must be ≥ 0, got {monthly_rent}", record=record)
    if blacklisted and not (blacklist_reason or "").strip():
        raise InvalidInput("a blacklisted rental needs a reason", record=record)
    _need(session, Dwelling, dwelling_id, record, "dwelling")
    for pid, role in ((lessor_person_id, "lessor"), (lessee_person_id, "lessee"), (sublessor_person_id, "sublessor")):
        if pid is not None:
            _need(session, Person, pid, record, role)
    rental = Rental(dwelling_id=dwelling_id, lessor_person_id=lessor_person_id, lessee_person_id=lessee_person_id,
                    sublessor_person_id=sublessor_person_id, start_date=start_date, end_date=end_date,
                    monthly_rent=monthly_rent, blacklisted=blacklisted,
                    blacklist_reason=blacklist_reason if blacklisted else (blacklist_reason or None))
    return _flush(session, rental, record)


def add_all(session: Session, add: Callable[..., T], rows: Sequence[Mapping[str, Any]]) -> list[T]:
    """Add a batch through one validated writer; the first refusal aborts the caller's transaction."""
    return [add(session, **row) for row in rows]


def grid_containing(session: Session, lon: float, lat: float) -> Grid | None:
    """The grid whose polygon covers a point (grids tile their communities, so at most one)."""
    point = f"SRID={SRID};POINT({lon} {lat})"
    return session.scalars(select(Grid).where(Grid.geom.ST_Covers(point)).limit(1)).first()
