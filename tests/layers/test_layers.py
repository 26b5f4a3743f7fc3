"""Layer builders against the seeded tiny street: a query in, a deck.gl layer spec out, by jurisdiction."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, text

from core.errors import AccessDenied
from core.viewer import Role, Viewer
from core.vocab import RuleName
from blockdata.db import transaction
from blockdata.models import AuditLog
from layers import alerts, buildings, common, dwellings, gates, grids, key_sites, regions
from tests.seeded import seed_tiny_swept
from tests.audit import AuditMark

ANCHOR = dt.date(2026, 11, 20)
STREET = "320106001000"
COMMUNITY = "320106001004"


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    as_of = seed_tiny_swept(ANCHOR)
    with transaction() as s:
        mine, grid = s.execute(text("""SELECT b.id, g.code FROM building b JOIN grid g ON g.id = b.grid_id
                                        ORDER BY b.id LIMIT 1""")).one()
        other = s.execute(text("""SELECT b.id FROM building b JOIN grid g ON g.id = b.grid_id
                                   WHERE g.code <> :g ORDER BY b.id LIMIT 1"""), {"g": grid}).scalar_one()
    return {"as_of": as_of, "other_building": other, "my_building": mine, "grid": grid}


def viewer(role: Role, *codes: str) -> Viewer:
    return Viewer(None, role, codes, f"test-{role.value}")


def test_grids_by_jurisdiction_with_population_fill(street: dict) -> None:
    with transaction() as s:
        all_grids = grids.grid_rows(s, viewer(Role.street, STREET))
        mine = grids.grid_rows(s, viewer(Role.supervisor, COMMUNITY), population={})
    assert len(all_grids) == 4 and [g["code"][:12] for g in mine] == [COMMUNITY, COMMUNITY]
    assert sum(g["population"] for g in all_grids) > 0
    assert all(len(g["color"]) == 4 and g["polygon"][0][0] == g["polygon"][0][-1] for g in all_grids)
    assert "实时人口" in all_grids[0]["tip"]
    with transaction() as s:
        by_alerts = grids.grid_rows(s, viewer(Role.street, STREET), fill="alerts", population={})
    worst = max(by_alerts, key=lambda g: g["alerts"])
    assert worst["alerts"] > 0 and worst["color"][0] > worst["color"][2]  # red end for the most alerts


def test_grid_and_key_site_outlines_are_their_rings_as_pixel_wide_segments(street: dict) -> None:
    with transaction() as s:
        g = grids.grid_rows(s, viewer(Role.street, STREET), population={})
        sites = key_sites.key_site_rows(s, viewer(Role.street, STREET))
    outlines = grids.grid_outline_rows(g)
    assert len(outlines) == sum(len(ring) - 1 for row in g for ring in row["polygon"])
    first = g[0]["polygon"][0]
    assert outlines[0]["source"] == first[0] and outlines[0]["target"] == first[1]
    assert {tuple(o["color"]) for o in outlines} == {tuple(row["line"]) for row in g}  # per community
    spec = common.layer_json(grids.grid_outlines_layer(outlines))
    assert spec["@@type"] == "LineLayer" and spec["id"] == "grids_outline"
    assert spec["widthUnits"] == "pixels" and spec["widthMinPixels"] == 2 and spec["getSourcePosition"] == "@@=source"
    assert common.layer_json(grids.grids_layer(g))["stroked"] is False  # the outline layer draws the boundary
    site_lines = key_sites.key_site_outline_rows(sites)
    assert len(site_lines) == sum(len(ring) - 1 for row in sites for ring in row["polygon"])
    assert common.layer_json(key_sites.key_site_outlines_layer(site_lines))["widthMinPixels"] == 3


def test_buildings_are_extruded_by_floors(street: dict) -> None:
    with transaction() as s:
        rows = buildings.building_rows(s, viewer(Role.street, STREET))
        one_grid = buildings.building_rows(s, viewer(Role.street, STREET), grid_code=rows[0]["grid"])
    assert len(rows) >= 4 and {r["grid"] for r in one_grid} == {rows[0]["grid"]}
    assert all(r["height"] > 0 and r["dwellings"] > 0 for r in rows)
    spec = common.layer_json(buildings.buildings_layer(rows))
    assert spec["@@type"] == "PolygonLayer" and spec["extruded"] is True and spec["getElevation"] == "@@=height"


def test_dwellings_floor_by_floor_and_refused_outside(street: dict) -> None:
    sup = viewer(Role.worker, street["grid"])
    with transaction() as s:
        rows = dwellings.dwelling_rows(s, sup, street["my_building"])
        third = dwellings.dwelling_rows(s, sup, street["my_building"], only_floor=3)
    assert rows and {r["floor"] for r in third} == {3}
    zs = {r["floor"]: r["polygon"][0][0][2] for r in rows}
    assert all(r["kind"] == "dwelling" and "登记居住" in r["tip"] for r in rows)
    assert zs[1] == 0 and zs[3] > zs[2] > zs[1]  # stacked by floor
    mark = AuditMark()
    with pytest.raises(AccessDenied):
        with transaction() as s:
            dwellings.dwelling_rows(s, sup, street["other_building"])
    denied = mark.rows(action="access.denied")
    assert [(a.subject, a.role) for a in denied] == [(f"building:{street['other_building']}", sup.role.value)]


def test_heatmap_from_rollups_and_gates(street: dict) -> None:
    day_start = street["as_of"] - dt.timedelta(days=1)
    with transaction() as s:
        visible = gates.visible_gates(s, viewer(Role.street, STREET))
        n_gates = s.execute(text("SELECT count(*) FROM gate")).scalar_one()
        grid_gates = gates.visible_gates(s, viewer(Role.worker, street["grid"]))
        flows = gates.window_flows(s, day_start, street["as_of"])
    assert len(visible) == n_gates and 0 < len(grid_gates) < n_gates
    heat = gates.heat_rows(visible, flows)
    assert heat and all(h["weight"] > 0 for h in heat)
    arrows = gates.arrow_rows(visible, flows)
    assert arrows and len(arrows) % 3 == 0  # an arrow is its shaft and two barbs, all ending at its head
    for i in range(0, len(arrows), 3):
        shaft, left, right = arrows[i:i + 3]
        assert shaft["target"] == left["target"] == right["target"] and shaft["arrow"] == left["arrow"] == right["arrow"]
        assert len({tuple(shaft["source"]), tuple(left["source"]), tuple(right["source"])}) == 3
    assert {tuple(a["color"]) for a in arrows} == {(80, 220, 140, 255), (255, 170, 60, 255)}  # in and out
    assert common.layer_json(gates.gate_arrows_layer(arrows))["@@type"] == "LineLayer"
    marks = gates.gate_rows(visible, flows)
    assert all("进 ↑" in m["tip"] for m in marks)
    spec = common.layer_json(gates.heatmap_layer(heat))
    assert spec["@@type"] == "ScatterplotLayer" and spec["getRadius"] == "@@=radius" and spec["radiusUnits"] == "meters"
    busiest = max(heat, key=lambda h: h["weight"])
    assert busiest["radius"] == max(h["radius"] for h in heat)
    assert common.layer_json(gates.gates_layer(marks))["radiusUnits"] == "pixels"  # a literal, not an accessor


def test_alerts_and_key_sites(street: dict) -> None:
    with transaction() as s:
        rows = alerts.alert_rows(s, viewer(Role.street, STREET))
        sites = key_sites.key_site_rows(s, viewer(Role.street, STREET))
        worker_sites = key_sites.key_site_rows(s, viewer(Role.worker, "320106001009999"))
    assert rows and all(r["severity"] in common.SEVERITY_COLORS for r in rows)
    assert {r["rule"] for r in rows} & {r.value for r in RuleName}
    assert len(sites) == 2 and worker_sites == []
    assert "重点场所" in sites[0]["tip"]


def test_deck_spec_is_plain_json_without_a_map_provider(street: dict) -> None:
    with transaction() as s:
        g = grids.grid_rows(s, viewer(Role.street, STREET), population={})
    spec = common.deck_spec([grids.grids_layer("/layers/grids.json")], common.view_for(common.polygon_box(g)))
    text_spec = json.dumps(spec)
    assert spec["layers"][0]["data"] == "/layers/grids.json" and spec["basemap"] == ""
    assert "mapbox" not in text_spec.lower() and "http" not in text_spec
    assert 118 < spec["initialViewState"]["longitude"] < 119


def test_a_base_map_is_only_there_when_configured(street: dict) -> None:
    view = common.view_for(None)
    assert common.deck_spec([], view)["basemap"] == ""
    local = "http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png"
    assert common.deck_spec([], view, basemap_url=local)["basemap"] == local  # drawn by a TileLayer in assets/deckmap.js


def test_on_a_one_street_base_the_administrator_works_on_the_street_s_map(street: dict) -> None:
    """An administrator sees everything, but a base of one street is a street: no districts to aggregate, and
    the buildings drawn from the start (a city account on the same base still gets the aggregated map)."""
    with transaction() as s:
        assert regions.streets_in_base(s) == 1
        assert not regions.aggregated_map(s, Viewer(None, Role.admin, (), "admin"))
        assert regions.aggregated_map(s, Viewer(None, Role.street, ("320100000000",), "city-cc"))
