"""A small hand-built place hierarchy for tests of the query layer and validated writes.

It lives in Xuanwu district (320102) so that it never collides with the seeded Gulou street;
each test module that uses it starts from emptied tables (modules run one after another).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shapely.geometry import Point, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import load_secrets
from blockdata import registry
from blockdata.identity import check_digit, hash_id_number, mask_id_number
from blockdata.models import (
    GateKind,
    Household,
    HouseholdMember,
    Person,
    PersonTag,
    PersonTagKind,
    Region,
    RegionLevel,
    Relation,
    RelationKind,
    ResidenceKind,
    Sex,
)

SEEDED_TABLES = (
    "region, grid, address, address_review, compound, key_site, gate, building, dwelling, person, person_tag, household, "
    "household_member, organisation, relation, ownership, access_grant, visitor_pass, face_template, "
    "gate_flow_minute, utility_reading, utility_account, property_fee, import_run, rental, self_declaration, alert, work_order, account, seed_info, "
    "truth.injected_anomaly, access_event"
)

STREET = "320102001000"
COMMUNITY_A = "320102001001"
COMMUNITY_B = "320102001002"


def empty_tables(session: Session) -> None:
    session.execute(text(f"TRUNCATE {SEEDED_TABLES} RESTART IDENTITY CASCADE"))


def id_number(seq: int, birth: dt.date) -> str:
    first17 = f"320102{birth:%Y%m%d}{seq:03d}"
    return first17 + check_digit(first17)


@dataclass
class Places:
    grid_a1: int
    grid_a2: int
    grid_b1: int
    building_a1: int
    building_b1: int
    dwelling_a1: int
    dwelling_b1: int
    person_a: int
    person_b: int
    id_number_a: str


def cell(x0: float, y0: float, size: float = 0.01):  # noqa: ANN201
    return box(118.80 + x0, 32.04 + y0, 118.80 + x0 + size, 32.04 + y0 + size)


def build(session: Session) -> Places:
    """City → district → street → 2 communities → 3 grids, a compound, 2 buildings, 2 dwellings, 2 people."""
    empty_tables(session)
    registry.add_region(session, code="320100000000", name="南京市", level=RegionLevel.city, parent_code=None)
    registry.add_region(session, code="320102000000", name="玄武区", level=RegionLevel.district, parent_code="320100000000")
    registry.add_region(session, code=STREET, name="梅园新村街道", level=RegionLevel.street, parent_code="320102000000")
    registry.add_region(session, code=COMMUNITY_A, name="甲社区", level=RegionLevel.community, parent_code=STREET)
    registry.add_region(session, code=COMMUNITY_B, name="乙社区", level=RegionLevel.community, parent_code=STREET)
    ga1 = registry.add_grid(session, community_code=COMMUNITY_A, sequence="001", name="甲一网格", geom=cell(0, 0))
    ga2 = registry.add_grid(session, community_code=COMMUNITY_A, sequence="002", name="甲二网格", geom=cell(0.01, 0))
    gb1 = registry.add_grid(session, community_code=COMMUNITY_B, sequence="001", name="乙一网格", geom=cell(0, 0.01))
    compound = registry.add_compound(
        session, code="XW-C001", name="测试小区", community_code=COMMUNITY_A, geom=cell(0.002, 0.002, 0.005)
    )
    registry.add_gate(
        session, code="XW-C001-G1", name="南门", kind=GateKind.pedestrian, compound_id=compound.id,
        geom=Point(118.8045, 32.042),
    )
    ba1 = registry.add_building(
        session, code="XW-B001", name="1幢", grid_id=ga1.id, compound_id=compound.id, floors=6, units=2,
        geom=cell(0.003, 0.003, 0.001),
    )
    bb1 = registry.add_building(session, code="XW-B101", name="101幢", grid_id=gb1.id, floors=12, geom=cell(0.003, 0.013, 0.001))
    da1 = registry.add_dwelling(session, code="XW-B001-1-0301", building_id=ba1.id, unit=1, floor=3, room="301", area_m2=89.5, rooms=3)
    db1 = registry.add_dwelling(session, code="XW-B101-1-1102", building_id=bb1.id, unit=1, floor=11, room="1102", area_m2=60, rooms=2)
    key = load_secrets().id_hash_key
    people = []
    for seq, (name, dwelling, birth) in enumerate(
        [("王建国", da1, dt.date(1950, 3, 1)), ("李秀英", db1, dt.date(1988, 7, 9))], start=1
    ):
        number = id_number(seq, birth)
        p = Person(
            id_hash=hash_id_number(key, number), id_masked=mask_id_number(number), name=name, sex=Sex.male,
            birth_date=birth, residence_kind=ResidenceKind.registered, home_dwelling_id=dwelling.id,
        )
        session.add(p)
        session.flush()
        people.append((p, number))
    (pa, number_a), (pb, _) = people
    session.add(PersonTag(person_id=pa.id, tag=PersonTagKind.elderly_alone, set_by="test"))
    household = Household(code="XW-H0001", dwelling_id=da1.id, head_person_id=pa.id)
    session.add(household)
    session.flush()
    session.add(HouseholdMember(household_id=household.id, person_id=pa.id, relation_to_head="本人"))
    session.add(
        Relation(person_id=pa.id, kind=RelationKind.owns, dwelling_id=da1.id, source="property_registry",
                 confidence=1.0, valid_from=dt.date(2001, 1, 1))
    )
    session.add(
        Relation(person_id=pb.id, kind=RelationKind.rents, dwelling_id=db1.id, source="rental_record",
                 confidence=0.9, valid_from=dt.date(2024, 5, 1))
    )
    session.flush()
    assert session.get(Region, COMMUNITY_A) is not None
    return Places(ga1.id, ga2.id, gb1.id, ba1.id, bb1.id, da1.id, db1.id, pa.id, pb.id, number_a)


def compound_gate(session: Session) -> tuple[int, int]:
    """(gate id, compound id) of the test compound's gate."""
    row = session.execute(text("SELECT id, compound_id FROM gate WHERE code = 'XW-C001-G1'")).one()
    return row.id, row.compound_id


def count(model) -> int:  # noqa: ANN001 - an ORM model class
    """Rows of a table now (for "nothing was written" checks)."""
    from sqlalchemy import func, select

    from blockdata.db import transaction

    with transaction() as s:
        return s.scalar(select(func.count()).select_from(model))
