"""A map for a city, in a real browser (headless Chromium, WebGL on SwiftShader), on a small city of three streets
in two districts (tests/city_fixture.py: the tiny street and two copies of it, 鼓楼区 and 玄武区).

A city or district command centre's one map opens on its districts and streets, coloured by real-time population,
with the flows between streets and no building; zoomed in past the threshold it loads the buildings of the view
(and only those of its jurisdiction), panning loads the next view, zooming out drops them. A street command
centre's map is the street map it always was. The viewport route refuses a bad box with 400 and its reason, and
never answers with another jurisdiction's buildings, whatever box is asked for.
"""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import text

from blockdata.db import transaction
from core.config import settings
from layers.regions import BUILDING_ZOOM, STREET_ZOOM
from tests.browser import app_server, http_login, login_page
from tests.city_fixture import GULOU, TINY_STREET, XUANWU, seed_small_city

pytestmark = pytest.mark.browser
PASSWORD = "city-map-pass-1234"
SECOND = "320106002000"
XUANWU_ST = "320102001000"
TINY_CENTRE = (118.765, 32.064)


@pytest.fixture(scope="module")
def city(database_url: str) -> dict:
    from dashboard.vendor import deck_bundle_missing

    if deck_bundle_missing():
        pytest.fail(f"deck.gl is not installed: run `scripts/bootstrap.sh node` — missing {deck_bundle_missing()}")
    world = seed_small_city(password=PASSWORD)
    with transaction() as s:
        world["buildings"] = {code: set(s.execute(text(
            """SELECT b.id FROM building b JOIN grid g ON g.id = b.grid_id WHERE g.code LIKE :p"""),
            {"p": code[:9] + "%"}).scalars()) for code in world["streets"]}
    return world


@pytest.fixture(scope="module")
def server(city: dict):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url


def wait_map(page, timeout_ms: int = 60000) -> None:  # noqa: ANN001
    page.wait_for_selector("#deck-map[data-loaded='1']", timeout=timeout_ms, state="attached")


LAYERS = """() => Object.fromEntries(window.gpMaps['deck-map'].deck.props.layers.map(l => [l.id,
  {visible: l.props.visible, rows: Array.isArray(l.props.data) ? l.props.data : null}]))"""


def layers(page) -> dict:  # noqa: ANN001
    return page.evaluate(LAYERS)


def go(page, lon: float, lat: float, zoom: float) -> None:  # noqa: ANN001
    page.evaluate(f"window.gpMaps['deck-map'].deck.setProps({{initialViewState: {{longitude: {lon}, latitude: {lat},"
                  f" zoom: {zoom}, pitch: 0, bearing: 0}}}})")


def dataset(page, key: str) -> str | None:  # noqa: ANN001
    return page.evaluate(f"document.getElementById('deck-map').dataset.{key} ?? null")


def buildings_in(box: str, jurisdiction: str) -> set[int]:
    """What the view's box holds in the jurisdiction, asked of PostGIS directly."""
    w, s, e, n = (float(v) for v in box.split(","))
    with transaction() as session:
        return set(session.execute(text(
            """SELECT b.id FROM building b JOIN grid g ON g.id = b.grid_id
               WHERE ST_Intersects(b.geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326)) AND g.code LIKE :p"""),
            {"w": w, "s": s, "e": e, "n": n, "p": jurisdiction + "%"}).scalars())


def test_a_city_viewer_first_sees_districts_and_streets_and_no_building(server: str, city: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, "city-cc", PASSWORD, "/")
    try:
        wait_map(page)
        first = layers(page)
        assert {r["code"] for r in first["streets"]["rows"]} == set(city["streets"])
        tiny = next(r for r in first["streets"]["rows"] if r["code"] == TINY_STREET)
        assert tiny["population"] > 0 and "实时人口" in tiny["tip"]
        assert first["buildings"]["rows"] == []  # the first render has no building
        assert "grids" not in first  # nor grids
        zoom = float(page.evaluate("window.gpMaps['deck-map'].deck.getViewports()[0].zoom"))
        assert STREET_ZOOM <= zoom < BUILDING_ZOOM  # fitted to the city: streets drawn, districts' fill not
        assert first["streets"]["visible"] and "districts" not in first and first["districts_outline"]["visible"]
        urls = page.requests.urls
        assert not any("/layers/buildings" in u or "/layers/grids" in u for u in urls), urls
        # the flows come after the first frame: 4 people of 宁海路街道 seen at 第二街道, 3 at 玄武一街道
        page.wait_for_function("(document.getElementById('deck-map').dataset.deferred || '').includes('flows')", timeout=30000)
        flows = {(r["origin"], r["dest"]): r["people"] for r in layers(page)["flows"]["rows"] if not r.get("barb")}
        assert flows == {(TINY_STREET[:9], SECOND[:9]): 4, (TINY_STREET[:9], XUANWU_ST[:9]): 3}
        go(page, 118.785, 32.064, STREET_ZOOM - 1.5)  # zoomed out: the districts take over from the streets
        page.wait_for_function("window.gpMaps['deck-map'].deck.props.layers.some(l => l.id === 'districts' && l.props.visible)",
                               timeout=20000)
        out = layers(page)
        assert {r["code"] for r in out["districts"]["rows"]} == {GULOU, XUANWU} and out["districts_label"]["visible"]
        assert "streets" not in out and "streets_label" not in out and out["streets_outline"]["visible"]
        assert dataset(page, "bboxLoaded") is None and out["buildings"]["rows"] == []
        assert page.requests.outside(server) == []
    finally:
        page.close()


def test_zooming_in_loads_the_view_s_buildings_of_the_jurisdiction_and_panning_the_next(server: str, city: dict,
                                                                                        browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, "gulou-cc", PASSWORD, "/")  # 鼓楼区: the tiny street and 第二街道
    try:
        wait_map(page)
        assert layers(page)["buildings"]["rows"] == [] and "districts" not in layers(page)  # one district: streets only
        go(page, *TINY_CENTRE, BUILDING_ZOOM + 2)
        page.wait_for_selector("#deck-map[data-bbox-loads='1']", timeout=30000, state="attached")
        box = dataset(page, "bboxLoaded")
        rows = layers(page)["buildings"]["rows"]
        assert {r["id"] for r in rows} == buildings_in(box, GULOU[:6])  # exactly what the view's box holds
        assert rows and {r["id"] for r in rows} < city["buildings"][TINY_STREET] | city["buildings"][SECOND]
        w, s, e, n = (float(v) for v in box.split(","))
        assert w <= TINY_CENTRE[0] <= e and s <= TINY_CENTRE[1] <= n and e - w <= 0.15
        assert any("/layers/buildings/bbox.json?bbox=" in u for u in page.requests.urls)
        # panning to 第二街道 loads that view
        go(page, 118.78, 32.064, BUILDING_ZOOM + 2)
        page.wait_for_selector("#deck-map[data-bbox-loads='2']", timeout=30000, state="attached")
        moved = dataset(page, "bboxLoaded")
        rows = layers(page)["buildings"]["rows"]
        assert moved != box and {r["id"] for r in rows} == buildings_in(moved, GULOU[:6])
        assert {r["id"] for r in rows} & city["buildings"][SECOND]
        # panning over 玄武区 (another district, with buildings there): none of them
        go(page, 118.807, 32.064, BUILDING_ZOOM + 2)
        page.wait_for_selector("#deck-map[data-bbox-loads='3']", timeout=30000, state="attached")
        there = dataset(page, "bboxLoaded")
        assert buildings_in(there, XUANWU[:6]), "the box must hold the other district's buildings for this to prove anything"
        assert not {r["id"] for r in layers(page)["buildings"]["rows"]} & city["buildings"][XUANWU_ST]
        # a small pan inside the loaded box asks for nothing new
        go(page, 118.8072, 32.0641, BUILDING_ZOOM + 2)
        page.wait_for_timeout(1500)
        assert dataset(page, "bboxLoads") == "3"
        # zoomed out below the threshold, the buildings go
        go(page, 118.78, 32.064, BUILDING_ZOOM - 1)
        page.wait_for_function("document.getElementById('deck-map').dataset.bboxLoaded === undefined", timeout=20000)
        assert layers(page)["buildings"]["rows"] == [] and dataset(page, "bboxRows") == "0"
        assert page.requests.outside(server) == []
    finally:
        page.close()


def test_a_street_viewer_s_map_is_the_street_map(server: str, city: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, "street", PASSWORD, "/")
    try:
        wait_map(page)
        now = layers(page)
        assert {"grids", "buildings", "compounds", "gates", "heatmap"} <= set(now)
        assert not {"districts", "streets", "flows"} & set(now)
        assert {r["id"] for r in now["buildings"]["rows"]} == city["buildings"][TINY_STREET]  # all of them, at once
        assert {r["code"][:9] for r in now["grids"]["rows"]} == {TINY_STREET[:9]}
        assert any(u.endswith("/layers/buildings.json") for u in page.requests.urls)
        assert not any("bbox" in u for u in page.requests.urls)
        assert page.locator("#replay-hour").is_visible()  # the street map keeps its replay slider
    finally:
        page.close()


def test_the_viewport_route_refuses_bad_boxes_and_never_crosses_the_jurisdiction(server: str, city: dict) -> None:
    route = server + "/layers/buildings/bbox.json"
    anonymous = requests.get(route, params={"bbox": "118.7,32.0,118.8,32.1"}, timeout=10, allow_redirects=False)
    assert anonymous.status_code in (302, 401)
    gulou = http_login(server, "gulou-cc", PASSWORD)
    with transaction() as s:
        before = s.execute(text("SELECT count(*) FROM building")).scalar_one()
    for bad, says in [(None, "required"), ("118.7,32.0,118.8", "4 numbers"), ("nan,32,118.8,32.1", "finite"),
                      ("118.8,32.0,118.7,32.1", "west < east"), ("118.7,32.0,118.8,95", "out of range"),
                      ("-180,-90,180,90", "too large"),
                      ("118.7,32.0,118.8,32.1);DROP TABLE building;--", "decimal numbers"),
                      ("118.7,32.0,118.8,32.1' OR '1'='1", "decimal numbers")]:
        answer = gulou.get(route, params={} if bad is None else {"bbox": bad}, timeout=20)
        assert answer.status_code == 400 and says in answer.json()["error"], (bad, answer.status_code, answer.text[:200])
    with transaction() as s:
        assert s.execute(text("SELECT count(*) FROM building")).scalar_one() == before
    everything = {"bbox": "118.755,32.055,118.815,32.075"}  # the whole small city, both districts
    # the city's command centre asks first, so a cache keyed by the box alone would hand its answer on
    city_answer = http_login(server, "city-cc", PASSWORD).get(route, params=everything, timeout=20).json()
    assert len(city_answer["rows"]) == sum(len(b) for b in city["buildings"].values())
    mine = gulou.get(route, params=everything, headers={"Accept-Encoding": "gzip"}, timeout=20)
    assert mine.status_code == 200 and mine.headers["Content-Encoding"] == "gzip"
    got = {r["id"] for r in mine.json()["rows"]}
    assert got == city["buildings"][TINY_STREET] | city["buildings"][SECOND] and mine.json()["truncated"] is False
    over_xuanwu = gulou.get(route, params={"bbox": "118.80,32.055,118.815,32.075"}, timeout=20).json()
    assert over_xuanwu["rows"] == [] and buildings_in("118.80,32.055,118.815,32.075", XUANWU[:6])
    worker = http_login(server, "worker-001005001", PASSWORD).get(route, params=everything, timeout=20).json()
    assert worker["rows"] and {r["grid"] for r in worker["rows"]} == {"320106001005001"}  # a grid worker: their grid


def test_the_city_wall_and_drill_down_are_aggregated_too(server: str, city: dict, browser) -> None:  # noqa: ANN001
    wall = login_page(browser, server, "city-cc", PASSWORD, "/wall")
    try:
        wait_map(wall, 120000)
        now = layers(wall)
        assert {r["code"] for r in now["streets"]["rows"]} == set(city["streets"]) and now["buildings"]["rows"] == []
        population = int(wall.inner_text("#kpi-population").replace(",", ""))
        assert population == sum({r["code"]: r["population"] for r in now["streets"]["rows"]}.values()) > 0
        assert not any("/layers/buildings.json" in u or "/layers/grids" in u for u in wall.requests.urls)
    finally:
        wall.close()
    page = login_page(browser, server, "city-cc", PASSWORD, f"/drill?place=region:{TINY_STREET}")
    try:
        wait_map(page)
        # a street fills the view at a zoom past the threshold: its view's buildings come by box, the city's do not
        page.wait_for_selector("#deck-map[data-bbox-loads='1']", timeout=30000, state="attached")
        box = dataset(page, "bboxLoaded")
        rows = {r["id"] for r in layers(page)["buildings"]["rows"]}
        assert rows == buildings_in(box, city["city"][:4]) and city["buildings"][TINY_STREET] <= rows
        assert not rows & city["buildings"][XUANWU_ST]
        assert "宁海路街道" in page.inner_text("#breadcrumbs")
    finally:
        page.close()
    one = login_page(browser, server, "city-cc", PASSWORD, "/")
    try:
        wait_map(one)
        # the streets re-coloured by open alerts from the cached route (here the street with the most people is also
        # the one with the alerts, so the colours alone would not tell: the request does)
        with one.expect_request(lambda r: r.url.endswith("/layers/streets.json?fill=alerts"), timeout=30000):
            one.get_by_label("着色：预警").check()
        one.wait_for_function("document.getElementById('deck-map').dataset.patch === 'fill-alerts'", timeout=20000)
        one.wait_for_function("Array.isArray(window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'streets').props.data)",
                              timeout=30000)
        by_code = {r["code"]: r for r in layers(one)["streets"]["rows"]}
        assert by_code[TINY_STREET]["alerts"] > 0 and by_code[TINY_STREET]["color"][0] > by_code[TINY_STREET]["color"][2]
        assert by_code[SECOND]["alerts"] == 0
        # the districts, out of the view's zoom range, are asked for coloured by alerts once zoomed out to them
        with one.expect_request(lambda r: r.url.endswith("/layers/districts.json?fill=alerts"), timeout=30000):
            go(one, 118.785, 32.064, STREET_ZOOM - 1.5)
        # and the buildings of a zoomed-in view come coloured by alerts too
        go(one, *TINY_CENTRE, BUILDING_ZOOM + 2)
        one.wait_for_selector("#deck-map[data-bbox-loads='1']", timeout=30000, state="attached")
        assert any("fill=alerts" in u and "/layers/buildings/bbox.json" in u for u in one.requests.urls)
    finally:
        one.close()
