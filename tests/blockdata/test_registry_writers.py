"""The registry's writers for key sites, addresses, people, ownership and rentals: typed refusals naming
the record, database refusals translated into the same errors, and all-or-nothing batches."""
from __future__ import annotations

import datetime as dt

import pytest
from shapely.geometry import Point, box
from sqlalchemy import func, select

from core.errors import BadCodeFormat, DuplicateCode, InvalidGeometry, InvalidInput, NotFound
from blockdata import registry
from intake.addresses.parser import ParsedAddress
from blockdata.db import transaction
from blockdata.identity import check_digit
from blockdata.models import (
    Address, AddressKind, KeySite, KeySiteCategory, Ownership, Person, Rental, ResidenceKind, Sex,
)
from tests import places as P
from tests.places import count

TODAY = dt.date(2026, 6, 1)


def idn(seq: int, birth: str = "19900101") -> str:
    first17 = f"320102{birth}{seq:03d}"
    return first17 + check_digit(first17)


SITE = box(118.8031, 32.0431, 118.8039, 32.0439)


def test_key_site_writer_checks_code_length_capacity_and_geometry(places: P.Places) -> None:
    with transaction() as s:
        site = registry.add_key_site(s, code="KS-SCHOOL1", name="测试小学", category=KeySiteCategory.school, geom=SITE,
                                     grid_id=places.grid_a1, capacity=800)
        assert site.id and site.grid_id == places.grid_a1
    with pytest.raises(BadCodeFormat, match="at most 20 characters") as err:
        with transaction() as s:
            registry.add_key_site(s, code="KS-" + "X" * 25, name="x", category=KeySiteCategory.school, geom=SITE)
    assert err.value.record.startswith("key site KS-")
    with pytest.raises(InvalidInput, match="capacity must be > 0"):
        with transaction() as s:
            registry.add_key_site(s, code="KS-BAD1", name="x", category=KeySiteCategory.park, geom=SITE, capacity=0)
    with pytest.raises(InvalidGeometry):
        with transaction() as s:
            registry.add_key_site(s, code="KS-BAD2", name="x", category=KeySiteCategory.park, geom=Point(118.8, 32.04))
    with pytest.raises(DuplicateCode, match="already exists"):
        with transaction() as s:
            registry.add_key_site(s, code="KS-SCHOOL1", name="again", category=KeySiteCategory.school, geom=SITE)
    with pytest.raises(NotFound, match="grid 999999"):
        with transaction() as s:
            registry.add_key_site(s, code="KS-BAD3", name="x", category=KeySiteCategory.park, geom=SITE, grid_id=999999)


def test_address_writer_parses_links_and_refuses(places: P.Places) -> None:
    with transaction() as s:
        std = registry.add_address(s, code="T-STD1", kind=AddressKind.standard,
                                   full_text="南京市玄武区长江路292号测试小区1幢1单元301室", parts=ParsedAddress(
                                       road="长江路", number="292", compound="测试小区", building="1", unit="1", room="301"))
        messy = registry.add_address(s, code="T-NS1", kind=AddressKind.non_standard, full_text="测试小区1幢1单元301",
                                     standard_id=std.id)
        assert messy.standard_id == std.id and messy.full_text == "测试小区1幢1单元301"
        long = registry.add_address(s, code="T-LONG", kind=AddressKind.virtual, full_text="x",
                                    parts=ParsedAddress(room="1" * 40, compound="名" * 100))
        assert len(long.room) == 16 and len(long.compound) == 64  # cut to the column, full text kept
        std_id = std.id
    cases = [
        (dict(code="T BAD", kind=AddressKind.standard, full_text="x"), BadCodeFormat, "no spaces"),
        (dict(code="T-P1", kind=AddressKind.point, full_text="长江路口"), InvalidInput, "needs a point"),
        (dict(code="T-P2", kind=AddressKind.point, full_text="长江路口", geom=Point(32.04, 118.8)), InvalidGeometry, ""),
        (dict(code="T-L1", kind=AddressKind.standard, full_text="x", standard_id=std_id), InvalidInput, "only a non-standard"),
        (dict(code="T-L2", kind=AddressKind.non_standard, full_text="x", standard_id=10**9), NotFound, "standard address"),
        (dict(code="T-R1", kind=AddressKind.standard, full_text="x", region_code="320102999999"), NotFound, "region"),
        (dict(code="T-E1", kind=AddressKind.standard, full_text="  "), InvalidInput, "no address text"),
        (dict(code="T-STD1", kind=AddressKind.standard, full_text="again"), DuplicateCode, "already exists"),
    ]
    for kwargs, exc, message in cases:
        with pytest.raises(exc, match=message or None):
            with transaction() as s:
                registry.add_address(s, **kwargs)


def test_person_writer_keeps_only_hash_and_masked_form(places: P.Places) -> None:
    number = idn(901, "19900101")
    with transaction() as s:
        p = registry.add_person(s, id_number=number, name="赵一", residence_kind=ResidenceKind.resident,
                                phone="138-0013-8000", today=TODAY)
        assert p.sex is Sex.male if int(number[16]) % 2 else Sex.female
        assert p.birth_date == dt.date(1990, 1, 1) and p.id_masked == number[:4] + "*" * 10 + number[-4:]
        assert p.phone_masked == "138****8000" and number.encode() not in bytes(p.id_hash)
    bad = [
        (dict(id_number=number[:17] + ("0" if number[17] != "0" else "1"), name="x"), "check digit"),
        (dict(id_number=idn(902, "20270101"), name="x"), "in the future"),
        (dict(id_number=idn(903), name="x", birth_date=dt.date(1991, 1, 1)), "differs from the ID number"),
        (dict(id_number=idn(904), name="x", sex=Sex.male if int(idn(904)[16]) % 2 == 0 else Sex.female), "contradicts"),
        (dict(id_number=idn(905), name="x", residence_kind=ResidenceKind.floating), "temporary-residence expiry"),
        (dict(id_number=idn(906), name=" "), "no name"),
        (dict(id_number=idn(907), name="x", home_dwelling_id=10**9), "dwelling"),
        (dict(id_number=number, name="again"), "already in the population base"),
    ]
    for kwargs, message in bad:
        with pytest.raises((InvalidInput, NotFound), match=message) as err:
            with transaction() as s:
                registry.add_person(s, today=TODAY, **kwargs)
        assert kwargs["id_number"] not in f"{err.value} {err.value.record}"  # never the plain number
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(Person).where(Person.name.in_(["x", "again"]))) == 0


def test_ownership_and_rental_writers(places: P.Places) -> None:
    with transaction() as s:
        o = registry.add_ownership(s, dwelling_id=places.dwelling_b1, person_id=places.person_b, since=dt.date(2020, 1, 1),
                                   share=0.5, today=TODAY)
        r = registry.add_rental(s, dwelling_id=places.dwelling_b1, lessor_person_id=places.person_b,
                                lessee_person_id=places.person_a, start_date=dt.date(2025, 1, 1), monthly_rent=2500,
                                today=TODAY)
        assert o.id and r.id
    bad_ownership = [
        (dict(since=dt.date(2027, 1, 1)), InvalidInput, "in the future"),
        (dict(share=1.5), InvalidInput, r"share must be in \(0, 1\]"),
        (dict(person_id=10**9), NotFound, "person"),
        (dict(), DuplicateCode, "already owns"),
    ]
    for extra, exc, message in bad_ownership:
        kwargs = dict(dwelling_id=places.dwelling_b1, person_id=places.person_b, since=dt.date(2020, 1, 1), today=TODAY) | extra
        with pytest.raises(exc, match=message):
            with transaction() as s:
                registry.add_ownership(s, **kwargs)
    base = dict(dwelling_id=places.dwelling_b1, lessor_person_id=places.person_b, lessee_person_id=places.person_a,
                start_date=dt.date(2025, 1, 1), today=TODAY)
    bad_rental = [
        (dict(start_date=dt.date(2027, 1, 1)), InvalidInput, "in the future"),
        (dict(end_date=dt.date(2024, 1, 1)), InvalidInput, "before start"),
        (dict(lessee_person_id=places.person_b), InvalidInput, "same person"),
        (dict(blacklisted=True), InvalidInput, "needs a reason"),
        (dict(monthly_rent=-1), InvalidInput, "≥ 0"),
        (dict(sublessor_person_id=10**9), NotFound, "sublessor"),
        (dict(dwelling_id=10**9), NotFound, "dwelling"),
    ]
    for extra, exc, message in bad_rental:
        with pytest.raises(exc, match=message):
            with transaction() as s:
                registry.add_rental(s, **(base | extra))


def test_a_batch_with_one_bad_row_writes_nothing(places: P.Places) -> None:
    before = (count(KeySite), count(Ownership), count(Rental), count(Address))
    with pytest.raises(InvalidInput):
        with transaction() as s:
            registry.add_all(s, registry.add_key_site, [
                dict(code="KS-OK1", name="a", category=KeySiteCategory.market, geom=SITE),
                dict(code="KS-OK2", name="b", category=KeySiteCategory.market, geom=SITE, capacity=-5),
            ])
    with pytest.raises(InvalidInput):
        with transaction() as s:
            registry.add_address(s, code="T-BATCH1", kind=AddressKind.virtual, full_text="流动摊位")
            registry.add_rental(s, dwelling_id=places.dwelling_a1, lessor_person_id=places.person_a,
                                lessee_person_id=places.person_b, start_date=dt.date(2025, 1, 1),
                                end_date=dt.date(2024, 1, 1), today=TODAY)
    assert (count(KeySite), count(Ownership), count(Rental), count(Address)) == before
