"""Standard addresses (标准地址) generated from the place hierarchy: compound (门楼牌), building (楼栋), unit
(单元) and dwelling (户), so that imported addresses have standard candidates to match.

A real street office rarely has its standard address base as a file; what it has is the hierarchy
(region names, compounds, buildings, dwellings). Each place gets one standard address whose text
reads as people write it, largest place first (南京市玄武区梅园新村街道测试小区3幢2单元501室), whose parts
are stored in the parser's canonical form (building '3', unit '2', room '501'; no floor, since the room
carries it and people leave it out), and whose point is the place's point on surface (the building's for
its units and dwellings), so an address with a location can be linked by the building it lies in
(intake.addresses.locate). Generating again updates the same rows (codes derived from the place codes).

A building's number comes from its name (3幢, 3号楼, 3栋 → 3); a building without a numbered name is
numbered by position inside its compound (south to north, then west to east: the order door plates are
usually given in) and the count of such buildings is reported, since those numbers are placeholders
until the office confirms them.
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field

from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.addresses.normalise import canonical_number, normalise
from intake.addresses.parser import ParsedAddress
from blockdata import registry
from blockdata.models import SRID, Address, AddressKind, Building, Compound, Dwelling, Region

_NUMBERED = re.compile(r"^[A-Za-z]?\d{1,4}[A-Za-z]?$")
CODE_LIMIT = 32


@dataclass
class Generated:
    """What one run wrote, by kind (new and updated), and the placeholders it had to invent."""

    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    numbered_by_position: int = 0

    def summary(self) -> dict[str, object]:
        return {"created": dict(self.created), "updated": dict(self.updated),
                "buildings_numbered_by_position": self.numbered_by_position}


def address_code(kind: str, place_code: str) -> str:
    """SA-<kind>-<place code>, or a hash of it when that would be longer than the column."""
    code = f"SA-{kind}-{place_code}"
    if len(code) <= CODE_LIMIT:
        return code
    return f"SA-{kind}-" + hashlib.sha1(place_code.encode()).hexdigest()[:CODE_LIMIT - 5]


def _region_chain(session: Session, code: str | None) -> dict[str, str]:
    """city, district and street names above a community (or any region)."""
    names: dict[str, str] = {}
    while code:
        region = session.get(Region, code)
        if region is None:
            break
        names.setdefault(region.level.value, region.name)
        code = region.parent_code
    return names


def building_number(building: Building) -> str | None:
    """The building's number from its name (3幢, 3号楼, 3#, B座 → 3/B), or None."""
    number = canonical_number(building.name or "")
    return number if number and _NUMBERED.match(number) else None


def _numbers_by_position(buildings: list[Building]) -> dict[int, str]:
    """Placeholder numbers for unnumbered buildings of one compound: south to north, west to east,
    after the highest number already in use."""
    used = {int(n) for b in buildings if (n := building_number(b)) and n.isdigit()}
    unnumbered = [b for b in buildings if building_number(b) is None]
    points = {b.id: to_shape(b.geom).representative_point() for b in unnumbered}
    unnumbered.sort(key=lambda b: (round(points[b.id].y, 4), points[b.id].x))
    numbers, n = {}, max(used, default=0)
    for b in unnumbered:
        n += 1
        numbers[b.id] = str(n)
    return numbers


class _Writer:
    """Creates or updates standard addresses by code, counting what it did."""

    def __init__(self, session: Session, result: Generated) -> None:
        self.session, self.result = session, result
        self.existing = {a.code: a for a in session.scalars(select(Address).where(Address.code.startswith("SA-")))}

    def put(self, kind: str, code: str, text: str, parts: ParsedAddress, region_code: str | None, point) -> Address:  # noqa: ANN001
        existing = self.existing.get(code)
        if existing is None:
            self.result.created[kind] += 1
            return registry.add_address(self.session, code=code, kind=AddressKind.standard, full_text=text,
                                        parts=parts, region_code=region_code, geom=point)
        existing.full_text, existing.region_code = text, region_code
        existing.geom = from_shape(point, srid=SRID) if point is not None else None
        for part in ("district", "street", "road", "number", "compound", "building", "unit", "floor", "room"):
            setattr(existing, part, getattr(parts, part))
        self.result.updated[kind] += 1
        return existing


def generate(session: Session, *, compound_codes: list[str] | None = None, building_codes: list[str] | None = None,
             community_prefix: str | None = None) -> Generated:
    """Standard addresses for the compounds, buildings, units and dwellings in scope (all when no scope)."""
    result = Generated()
    writer = _Writer(session, result)
    q = select(Building).order_by(Building.id)
    if building_codes:
        q = q.where(Building.code.in_(building_codes))
    if compound_codes:
        q = q.join(Compound, Compound.id == Building.compound_id).where(Compound.code.in_(compound_codes))
    if community_prefix:
        from blockdata.models import Grid

        q = q.join(Grid, Grid.id == Building.grid_id).where(Grid.code.startswith(community_prefix))
    buildings = list(session.scalars(q))
    cq = select(Compound).order_by(Compound.id)
    if compound_codes:
        cq = cq.where(Compound.code.in_(compound_codes))
    elif building_codes:
        cq = cq.where(Compound.id.in_({b.compound_id for b in buildings if b.compound_id}))
    if community_prefix:
        cq = cq.where(Compound.community_code.startswith(community_prefix))
    compounds = {c.id: c for c in session.scalars(cq)}
    chains: dict[str, dict[str, str]] = {}

    def chain(code: str | None) -> dict[str, str]:
        if code not in chains:
            chains[code] = _region_chain(session, code)
        return chains[code]

    for c in compounds.values():
        names = chain(c.community_code)
        parts = ParsedAddress(district=names.get("district"), street=names.get("street"), compound=normalise(c.name))
        text = "".join(names.get(k, "") for k in ("city", "district", "street")) + c.name
        address = writer.put("compound", address_code("C", c.code), text, parts, c.community_code,
                             to_shape(c.geom).representative_point())
        c.address_id = address.id

    by_compound: dict[int | None, list[Building]] = defaultdict(list)
    for b in buildings:
        by_compound[b.compound_id].append(b)
    for compound_id, group in by_compound.items():
        compound = compounds.get(compound_id) or (session.get(Compound, compound_id) if compound_id else None)
        siblings = list(session.scalars(select(Building).where(Building.compound_id == compound_id))) if compound else []
        placeholders = _numbers_by_position(siblings) if compound is not None else {}  # all of the compound's
        placeholders = {k: v for k, v in placeholders.items() if k in {b.id for b in group}}
        result.numbered_by_position += len(placeholders)
        for b in group:
            _building_addresses(session, writer, b, compound, placeholders.get(b.id), chain)
    session.flush()
    return result


def _building_addresses(session: Session, writer: _Writer, b: Building, compound: Compound | None,
                        placeholder: str | None, chain) -> None:  # noqa: ANN001 - chain: code → names
    """The building's address, one per unit, one per dwelling."""
    from blockdata.models import Grid

    community = compound.community_code if compound is not None else session.get(Grid, b.grid_id).community_code
    names = chain(community)
    head = "".join(names.get(k, "") for k in ("city", "district", "street"))
    number = building_number(b) or placeholder
    if compound is not None:
        base = head + compound.name + f"{number}幢"
        base_parts = dict(district=names.get("district"), street=names.get("street"), compound=normalise(compound.name),
                          building=number)
    else:  # a building in no compound: its own name is its door plate
        base = head + (b.name if b.name and b.name != b.code else b.code)
        base_parts = dict(district=names.get("district"), street=names.get("street"),
                          compound=normalise(b.name or b.code) if number is None else None, building=number)
    point = to_shape(b.geom).representative_point()
    address = writer.put("building", address_code("B", b.code), base, ParsedAddress(**base_parts), community, point)
    b.address_id = address.id
    for unit in range(1, b.units + 1):
        writer.put("unit", address_code("U", f"{b.code}-{unit}"), f"{base}{unit}单元",
                   ParsedAddress(**base_parts, unit=str(unit)), community, point)
    for d in session.scalars(select(Dwelling).where(Dwelling.building_id == b.id).order_by(Dwelling.id)):
        text = f"{base}{d.unit}单元{d.room}室"
        address = writer.put("dwelling", address_code("D", d.code), text,
                             ParsedAddress(**base_parts, unit=str(d.unit), room=canonical_number(d.room)), community, point)
        d.address_id = address.id
