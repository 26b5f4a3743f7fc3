"""Bad input is refused with a typed error naming the record and why, and nothing is half-written."""
from __future__ import annotations

import json

import pytest
from shapely.geometry import Polygon, box
from sqlalchemy import text

from core.errors import BadCodeFormat, DuplicateCode, InvalidGeometry, InvalidInput, OutsideParent
from blockdata import registry
from blockdata.db import transaction
from blockdata.models import Building, Dwelling, GateKind, Grid, RegionLevel
from tests import places as P
from tests.places import count

BOWTIE = Polygon([(118.801, 32.041), (118.802, 32.042), (118.802, 32.041), (118.801, 32.042), (118.801, 32.041)])


def test_self_intersecting_polygon_is_refused_with_the_reason(places: P.Places) -> None:
    with pytest.raises(InvalidGeometry, match="Self-intersection") as err:
        with transaction() as s:
            registry.add_building(s, code="XW-BAD1", name="bad", grid_id=places.grid_a1, floors=6, geom=BOWTIE)
    assert err.value.record == "building XW-BAD1"


@pytest.mark.parametrize(
    "geom, message",
    [
        ("POLYGON((118.8 32.04, 118.81 32.04", "cannot parse"),
        ("POINT(118.805 32.045)", "expected Polygon"),
        ("POLYGON EMPTY", "empty"),
        (box(32.041, 118.801, 32.042, 118.802).wkt, "swapped axes"),
        ({"type": "Polygon", "coordinates": [[[118.8, 32.04], [118.81, 32.04]]]}, "cannot parse"),
    ],
)
def test_broken_geometries_are_refused(places: P.Places, geom, message: str) -> None:  # noqa: ANN001
    with pytest.raises(InvalidGeometry, match=message):
        with transaction() as s:
            registry.add_building(s, code="XW-BAD2", name="bad", grid_id=places.grid_a1, floors=6, geom=geom)


def test_the_database_refuses_invalid_geometry_even_without_the_python_checks(places: P.Places) -> None:
    """A bulk path that skipped registry.validated() still cannot store a bow-tie."""
    with pytest.raises(Exception, match="geom_valid"):
        with transaction() as s:
            s.execute(
                text("UPDATE grid SET geom = ST_GeomFromText(:wkt, 4326) WHERE id = :id"),
                {"wkt": BOWTIE.wkt, "id": places.grid_a2},
            )


def test_duplicate_code_is_refused(places: P.Places) -> None:
    with pytest.raises(DuplicateCode, match="already exists") as err:
        with transaction() as s:
            registry.add_building(s, code="XW-B001", name="again", grid_id=places.grid_a1, floors=6, geom=P.cell(0.005, 0.005, 0.001))
    assert err.value.record == "building XW-B001"


@pytest.mark.parametrize(
    "code, level, parent",
    [("32010200100", RegionLevel.community, P.STREET), ("32010200100A", RegionLevel.community, P.STREET)],
)
def test_region_code_of_the_wrong_format_is_refused(places: P.Places, code: str, level: RegionLevel, parent: str) -> None:
    with pytest.raises(BadCodeFormat, match="12 digits"):
        with transaction() as s:
            registry.add_region(s, code=code, name="x", level=level, parent_code=parent)


def test_region_under_the_wrong_level_is_refused(places: P.Places) -> None:
    with pytest.raises(InvalidInput, match="parent must be a street"):
        with transaction() as s:
            registry.add_region(s, code="320102001009", name="x", level=RegionLevel.community, parent_code="320102000000")


def test_grid_sequence_of_the_wrong_format_is_refused(places: P.Places) -> None:
    with pytest.raises(BadCodeFormat, match="3 digits"):
        with transaction() as s:
            registry.add_grid(s, community_code=P.COMMUNITY_A, sequence="01", name="x", geom=P.cell(0.02, 0))


def test_dwelling_outside_its_building_is_refused_in_python_and_in_sql(places: P.Places) -> None:
    with pytest.raises(OutsideParent, match="outside building XW-B001"):
        with transaction() as s:
            registry.add_dwelling(s, code="XW-B001-1-0901", building_id=places.building_a1, unit=1, floor=9, room="901", area_m2=80)
    with pytest.raises(Exception, match="lies outside building"):
        with transaction() as s:
            s.add(Dwelling(code="XW-B001-3-0101", building_id=places.building_a1, unit=3, floor=1, room="101", area_m2=80, rooms=2, use="residential"))
            s.flush()


def test_zero_area_is_refused(places: P.Places) -> None:
    with pytest.raises(InvalidInput, match="area"):
        with transaction() as s:
            registry.add_dwelling(s, code="XW-B001-1-0102", building_id=places.building_a1, unit=1, floor=1, room="102", area_m2=0)


def test_building_outside_its_compound_is_refused(places: P.Places) -> None:
    with pytest.raises(OutsideParent, match="outside its compound"):
        with transaction() as s:
            compound_id = s.scalar(text("SELECT id FROM compound WHERE code = 'XW-C001'"))
            registry.add_building(
                s, code="XW-B009", name="9幢", grid_id=places.grid_a1, compound_id=compound_id, floors=6,
                geom=P.cell(0.0065, 0.0065, 0.001),  # pokes out of the compound's north-east corner
            )


def test_gate_must_have_exactly_one_owner(places: P.Places) -> None:
    with pytest.raises(InvalidInput, match="exactly one compound or key site"):
        with transaction() as s:
            registry.add_gate(s, code="XW-G-ORPHAN", name="x", kind=GateKind.pedestrian, geom="POINT(118.805 32.042)")


def test_a_batch_that_fails_part_way_writes_nothing(places: P.Places) -> None:
    before = count(Building)
    rows = [
        dict(code="XW-B201", name="201幢", grid_id=places.grid_a2, floors=8, geom=P.cell(0.013, 0.003, 0.001)),
        dict(code="XW-B202", name="202幢", grid_id=places.grid_a2, floors=8, geom=P.cell(0.015, 0.003, 0.001)),
        dict(code="XW-B203", name="203幢", grid_id=places.grid_a2, floors=8, geom=json.dumps(BOWTIE.__geo_interface__)),
    ]
    with pytest.raises(InvalidGeometry) as err:
        with transaction() as s:
            registry.add_all(s, registry.add_building, rows)
    assert err.value.record == "building XW-B203"
    assert count(Building) == before
    with transaction() as s:
        registry.add_all(s, registry.add_building, rows[:2])
    assert count(Building) == before + 2


def test_building_must_lie_in_its_grid(places: P.Places) -> None:
    with pytest.raises(OutsideParent, match="does not lie in its grid"):
        with transaction() as s:
            registry.add_building(s, code="XW-B300", name="x", grid_id=places.grid_b1, floors=5, geom=P.cell(0.005, 0.005, 0.001))
    assert count(Grid) == 3
