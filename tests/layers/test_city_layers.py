"""The aggregated layers of a city or district viewer, and buildings by viewport, on a small city of three streets
in two districts (tests/city_fixture.py): what each viewer's scope is, what each region adds up to, which flows
are drawn, and which buildings a box returns."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from core.errors import InvalidInput
from core.viewer import Role, Viewer
from blockdata.db import transaction
from layers import regions, viewport
from tests.city_fixture import CITY, GULOU, TINY_STREET, XUANWU, seed_small_city

SECOND = "320106002000"   # 第二街道, 鼓楼区 (a copy of the tiny street, 0.015° east)
XUANWU_ST = "320102001000"  # 玄武一街道, 玄武区 (0.042° east)


@pytest.fixture(scope="module")
def city(database_url: str) -> dict:
    return seed_small_city()


def viewer(*codes: str, role: Role = Role.street) -> Viewer:
    return Viewer(None, role, codes, f"test-{role.value}")


def test_a_viewer_s_scope_is_the_broadest_level_of_their_jurisdiction() -> None:
    assert viewer(CITY).scope == "city" and viewer(CITY).sees_aggregated_map
    assert viewer(GULOU).scope == "district" and viewer(GULOU).sees_aggregated_map
    assert viewer(TINY_STREET).scope == "street" and not viewer(TINY_STREET).sees_aggregated_map
    assert viewer("320106001004", role=Role.supervisor).scope == "community"
    assert viewer("320106001004001", role=Role.worker).scope == "grid"
    assert viewer(TINY_STREET, XUANWU).scope == "district"  # a street and a district: the district decides
    assert Viewer(None, Role.admin, (), "admin").scope == "city"  # an admin sees everything


def test_streets_and_districts_add_up_their_grids(city: dict) -> None:
    population = {}
    with transaction() as s:
        grids = s.execute(text("SELECT id, code FROM grid")).all()
        for i, (grid_id, _) in enumerate(grids):
            population[grid_id] = 10 + i
        streets = regions.region_rows(s, viewer(CITY), "street", population=population)
        districts = regions.region_rows(s, viewer(CITY), "district", population=population)
        alerts = s.execute(text(
            """SELECT count(*) FROM alert a JOIN grid g ON g.id = a.grid_id WHERE a.status IN ('open', 'dispatched')
               AND g.code LIKE :p AND a.rule <> 'key_control_movement'"""), {"p": TINY_STREET[:9] + "%"}).scalar_one()
    expected = {code: sum(population[g] for g, c in grids if c.startswith(code[:9])) for code in city["streets"]}
    assert {r["code"]: r["population"] for r in streets} == expected
    assert {r["code"] for r in districts} == {GULOU, XUANWU}
    gulou = [r for r in districts if r["code"] == GULOU]
    # 鼓楼区 has no polygon of its own: it is the union of its two streets, which do not touch — two polygons
    assert len(gulou) == 2 and all(r["population"] == expected[TINY_STREET] + expected[SECOND] for r in gulou)
    assert [r["buildings"] for r in streets if r["code"] == TINY_STREET] == [7]
    assert {r["code"]: r["alerts"] for r in streets} == {TINY_STREET: alerts, SECOND: 0, XUANWU_ST: 0} and alerts > 0
    assert "实时人口" in streets[0]["tip"] and streets[0]["polygon"][0][0] == streets[0]["polygon"][0][-1]
    with transaction() as s:
        by_alerts = regions.region_rows(s, viewer(CITY), "street", population={}, fill="alerts")
    worst = next(r for r in by_alerts if r["code"] == TINY_STREET)
    assert worst["color"][0] > worst["color"][2]  # the red end for the street with the alerts


def test_a_district_viewer_gets_only_its_own_district_and_streets(city: dict) -> None:
    with transaction() as s:
        streets = regions.region_rows(s, viewer(GULOU), "street", population={})
        districts = regions.region_rows(s, viewer(GULOU), "district", population={})
        other = regions.region_rows(s, viewer(XUANWU), "street", population={})
        street_viewer = regions.region_rows(s, viewer(TINY_STREET), "district", population={})
    assert {r["code"] for r in streets} == {TINY_STREET, SECOND}
    assert {r["code"] for r in districts} == {GULOU}
    assert {r["code"] for r in other} == {XUANWU_ST}
    assert street_viewer == []  # a street viewer is not given their district's figures


def test_flows_between_streets_count_people_within_the_jurisdiction_and_hide_small_ones(city: dict) -> None:
    def pairs(rows: list[dict]) -> dict[tuple[str, str], int]:
        return {(r["origin"], r["dest"]): r["people"] for r in rows if not r.get("barb")}

    with transaction() as s:
        whole = pairs(regions.flow_rows(s, viewer(CITY)))
        gulou = pairs(regions.flow_rows(s, viewer(GULOU)))
        xuanwu = pairs(regions.flow_rows(s, viewer(XUANWU)))
        strict = pairs(regions.flow_rows(s, viewer(CITY), minimum=4))
        rows = regions.flow_rows(s, viewer(CITY))
    # people, not passages: each passed twice
    assert whole == {(TINY_STREET[:9], SECOND[:9]): 4, (TINY_STREET[:9], XUANWU_ST[:9]): 3}
    assert gulou == {(TINY_STREET[:9], SECOND[:9]): 4}  # the flow into another district is not theirs to see
    assert xuanwu == {}  # its people come from outside its jurisdiction
    assert strict == {(TINY_STREET[:9], SECOND[:9]): 4}  # under the minimum: not drawn
    shaft = next(r for r in rows if not r.get("barb") and r["dest"] == SECOND[:9])
    assert shaft["source"][0] < shaft["target"][0]  # from the tiny street eastwards to its copy
    assert "宁海路街道 → 第二街道：4 人" in shaft["tip"]
    assert sum(1 for r in rows if r.get("barb")) == 2 * len(whole)  # an arrowhead per flow


@pytest.mark.parametrize("raw, says", [
    (None, "required"), ("", "required"), ("118.7,32.0,118.8", "4 numbers"), ("a,b,c,d", "decimal numbers"),
    ("nan,32.0,118.8,32.1", "finite"), ("118.7,32.0,inf,32.1", "finite"), ("118.8,32.0,118.7,32.1", "west < east"),
    ("118.7,32.1,118.8,32.1", "south < north"), ("118.7,89.95,118.8,95", "out of range"),
    ("-180,-90,180,90", "too large"), ("118.7,32.0,118.86,32.1", "too large"),
    ("118.7,32.0,118.8,32.1);DROP TABLE building;--", "decimal numbers"),
])
def test_a_bad_box_is_refused_with_its_reason(raw: str | None, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        viewport.parse_bbox(raw)


def test_a_box_returns_the_buildings_inside_it_and_the_jurisdiction_only(city: dict) -> None:
    both = viewport.parse_bbox("118.755,32.055,118.815,32.075")  # every street of the small city
    west = viewport.parse_bbox("118.760,32.060,118.770,32.068")  # the tiny street alone
    with transaction() as s:
        in_box = set(s.execute(text(
            """SELECT b.id FROM building b WHERE ST_Intersects(b.geom, ST_MakeEnvelope(118.760, 32.060, 118.770, 32.068, 4326))""")).scalars())
        city_rows, city_cut = viewport.building_bbox_rows(s, viewer(CITY), both)
        gulou_rows, _ = viewport.building_bbox_rows(s, viewer(GULOU), both)
        west_rows, _ = viewport.building_bbox_rows(s, viewer(CITY), west)
        xuanwu_there, _ = viewport.building_bbox_rows(s, viewer(XUANWU), west)
        worker_rows, _ = viewport.building_bbox_rows(s, viewer("320106001005001", role=Role.worker), both)
        few, cut = viewport.building_bbox_rows(s, viewer(CITY), both, limit=5)
    assert len(city_rows) == 21 and not city_cut
    assert {r["grid"][:6] for r in gulou_rows} == {"320106"} and len(gulou_rows) == 14
    assert {r["id"] for r in west_rows} == in_box and 0 < len(in_box) < 21
    assert xuanwu_there == []  # another district's box: nothing of it, though it holds buildings
    assert worker_rows and {r["grid"] for r in worker_rows} == {"320106001005001"}
    assert len(few) == 5 and cut  # limited, and it says so
    # the five kept are the nearest to the box's centre (118.785, 32.065): the second street's, 0.015° east
    assert {r["grid"][:9] for r in few} == {SECOND[:9]}
    assert {"polygon", "height", "color", "tip", "kind"} <= set(city_rows[0]) and city_rows[0]["kind"] == "building"


def test_an_administrator_s_map_is_aggregated_only_where_the_base_holds_several_streets(city: dict) -> None:
    admin = Viewer(None, Role.admin, (), "admin")
    with transaction() as s:
        assert regions.streets_in_base(s) == 3
        assert regions.aggregated_map(s, admin) and regions.aggregated_map(s, viewer(GULOU))
        assert not regions.aggregated_map(s, viewer(TINY_STREET))
        # the base with one street: tests/layers/test_layers.py
