"""Linking an address by where it is as well as by what it says: a point inside a building.

An address that carries a location (a utility company's meter point, a geocoded complaint) is matched
against the standard addresses of the building its point lies in, with the building's coarse parts
(district, street, road and number, compound, building number) taken from the building when the text
leaves them out: "2单元501室" at a point inside 3幢 of 测试小区 is 测试小区3幢2单元501室. The text still
decides the fine parts (unit, room): a point in the building and a room that the building lacks do not
link. When the text on its own names a standard address in *another* building than the point lies in,
text and location disagree, and the address waits for a person instead of being linked by either.
"""
from __future__ import annotations

from dataclasses import replace

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.addresses.matcher import AddressIndex, Match, parts_of, score
from intake.addresses.parser import ParsedAddress
from blockdata.models import SRID, Address, AddressKind, Building

COARSE_PARTS = ("district", "street", "road", "number", "compound", "building")


def building_at(session: Session, address: Address) -> Building | None:
    """The building whose footprint covers the address's point (None without a point or building)."""
    if address.geom is None:
        return None
    point = to_shape(address.geom)
    return session.scalars(select(Building).where(Building.geom.ST_Covers(f"SRID={SRID};{point.wkt}")).limit(1)).first()


def _standard_in(session: Session, building: Building) -> list[Address]:
    """Standard addresses placed inside the building (its own, its units' and its dwellings')."""
    return list(session.scalars(select(Address).join(Building, Address.geom.ST_CoveredBy(Building.geom)).where(
        Building.id == building.id, Address.kind == AddressKind.standard, Address.building.is_not(None))))


def _filled(messy: ParsedAddress, building_parts: ParsedAddress) -> ParsedAddress:
    """The messy parts with the coarse parts the text left out taken from the building it lies in."""
    return replace(messy, **{p: getattr(building_parts, p) for p in COARSE_PARTS
                             if getattr(messy, p) is None and getattr(building_parts, p) is not None})


def best(session: Session, index: AddressIndex, address: Address, messy: ParsedAddress, threshold: float) -> Match:
    """The best standard match by text and, when the address has a point inside a building, by location.

    Returns a match that scores below ``threshold`` (so the address is queued) when the text alone
    confidently names an address in another building than the point.
    """
    by_text = index.best(messy)
    building = building_at(session, address)
    if building is None:
        return by_text
    candidates = _standard_in(session, building)
    located_match = None
    if candidates:
        own = next((c for c in candidates if c.id == building.address_id), None) or min(candidates, key=lambda c: len(c.full_text))
        filled = _filled(messy, parts_of(own))
        sc, best_c = max(((score(filled, parts_of(c)), c) for c in candidates), key=lambda t: (t[0], -len(t[1].full_text)))
        located_match = Match(best_c.id, best_c.code, round(sc, 4))
    if by_text.standard_id is not None and by_text.score >= threshold and by_text.standard_id not in {c.id for c in candidates}:
        named = session.get(Address, by_text.standard_id)
        if named is not None and named.building is not None:
            # text and location name different buildings: neither wins, a person decides
            shown = located_match or by_text
            return Match(shown.standard_id, shown.standard_code, max(0.0, min(shown.score, threshold - 0.01)))
    if located_match is not None and located_match.score >= by_text.score:
        return located_match
    return by_text
