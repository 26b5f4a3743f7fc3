"""The dashboard in a real browser: Playwright driving Debian's chromium (headless, WebGL on SwiftShader).

Each role logs in and sees only its pages; the wall screen draws a non-empty deck.gl map and
updates after new events (and after a server restart); the drill-down opens by clicking the map;
no request leaves 127.0.0.1; a hand-crafted callback request for a place outside a supervisor's
jurisdiction is refused and audited.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import time

import pytest
import requests
from sqlalchemy import select, text

from core.config import settings
from core.passwords import hash_password
from core.redis_client import connect
from blockdata.db import transaction
from blockdata.models import Account, AuditLog
from ingest.live_state import LiveState
from ingest.writer import LandedSummary
from tests.audit import AuditMark
from tests.browser import app_server, free_port, http_login, login_page
from tests.seeded import seed_tiny_swept

pytestmark = pytest.mark.browser
ANCHOR = dt.date(2026, 11, 20)
PASSWORD = "dash-test-pass-1234"
NAV = {
    "admin": {"一张图", "指挥中心", "全市", "网格", "重点场所", "统计", "工单", "审计", "导入", "账号"},
    "street": {"一张图", "指挥中心", "全市", "网格", "重点场所", "统计", "工单"},
    "police": {"一张图", "指挥中心", "全市", "网格", "重点场所", "统计", "警务", "工单"},
    "supervisor": {"一张图", "指挥中心", "网格", "统计", "工单"},
    "worker": {"一张图", "网格", "工单"},
}


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    from dashboard.vendor import deck_bundle_missing

    if deck_bundle_missing():
        pytest.fail(f"deck.gl is not installed: run `scripts/bootstrap.sh node` (npm ci) — missing {deck_bundle_missing()}")
    seed_tiny_swept(ANCHOR)
    with transaction() as s:
        busiest = s.execute(text(
            """SELECT g.community_code, g.code FROM building b JOIN grid g ON g.id = b.grid_id
               GROUP BY 1, 2 ORDER BY count(*) DESC, 2 LIMIT 1""")).one()
        outside_grid = s.execute(text("SELECT code FROM grid WHERE community_code <> :c ORDER BY code LIMIT 1"),
                                 {"c": busiest.community_code}).scalar_one()
        outside_person = s.execute(text(
            """SELECT p.id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
               JOIN grid g ON g.id = b.grid_id WHERE g.community_code = :c ORDER BY p.id LIMIT 1"""),
            {"c": busiest.community_code}).scalar_one()
        users = {}
        for account in s.scalars(select(Account)):
            account.password_hash = hash_password(PASSWORD)  # the seed printed random ones
            role = account.role.value
            if role == "supervisor" and account.jurisdiction == [busiest.community_code]:
                users["supervisor"] = account.username
            elif role == "supervisor":
                users["other_supervisor"] = account.username
            elif role == "worker" and account.jurisdiction == [busiest.code]:
                users["worker"] = account.username
            elif role in ("admin", "street", "police"):
                users[role] = account.username
        gate_id = s.execute(text("SELECT id FROM gate ORDER BY id LIMIT 1")).scalar_one()
    return {"users": users, "grid": busiest.code, "own_grid_of_other": outside_grid, "gate": gate_id,
            "person_of_supervisor": outside_person}


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(street: dict, port: int):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url, "GRIDPULSE_MAP_REFRESH_S": "2"}, port=port) as url:
        yield url



def audit_rows(mark: AuditMark, action: str, subject: str | None = None, username: str | None = None) -> list[AuditLog]:
    """The audit rows this test caused (after ``mark``) with that action, and subject and user where given."""
    where = {"action": action} | ({"subject": subject} if subject else {}) | ({"username": username} if username else {})
    return mark.rows(**where)


def painted_share(png: bytes) -> tuple[float, int]:
    """Share of pixels that differ from the map's empty background, and how many distinct colours."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").resize((320, 180))
    pixels = list(image.getdata())
    background = (6, 20, 43)
    painted = [p for p in pixels if sum(abs(a - b) for a, b in zip(p, background)) > 40]
    return len(painted) / len(pixels), len({(r // 16, g // 16, b // 16) for r, g, b in painted})


def wait_map(page, timeout_ms: int = 45000) -> None:  # noqa: ANN001
    page.wait_for_selector("#deck-map[data-loaded='1']", timeout=timeout_ms, state="attached")


@pytest.mark.parametrize("role", ["admin", "street", "police", "supervisor", "worker"])
def test_each_role_logs_in_and_sees_its_pages(server: str, street: dict, browser, role: str) -> None:  # noqa: ANN001
    mark = AuditMark()
    page = login_page(browser, server, street["users"][role], PASSWORD, "/")
    try:
        page.wait_for_selector("header nav a", timeout=30000)
        nav = {a.inner_text() for a in page.query_selector_all("header nav a")} - {"退出"}
        assert nav == NAV[role]
        wait_map(page)  # every role gets the one map of its own jurisdiction
        if role != "admin":
            page.goto(server + "/audit")
            page.wait_for_selector("#page-refused", timeout=30000)
            assert audit_rows(mark, "access.denied", "page:/audit", street["users"][role])
        assert page.requests.outside(server) == []
    finally:
        page.close()


def test_wall_screen_draws_the_map_and_updates_after_new_events(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, street["users"]["street"], PASSWORD, "/wall")
    try:
        wait_map(page)
        time.sleep(1.0)
        share, colours = painted_share(page.locator("#deck-map").screenshot())
        assert share > 0.05 and colours >= 4, (share, colours)
        before = int(page.inner_text("#kpi-entries_hour").replace(",", ""))
        minute = int(time.time()) // 60
        LiveState(connect(), settings().redis_prefix).apply(
            LandedSummary(stored=37, flows=[(street["gate"], minute, "in", 37)]))
        # the next refreshes carry it (every GRIDPULSE_MAP_REFRESH_S; slower on a busy machine: the trends too)
        page.wait_for_function(f"document.getElementById('kpi-entries_hour').innerText.replace(',', '') == '{before + 37}'",
                               timeout=60000)
        patch_seq = page.get_attribute("#deck-map", "data-patch")
        assert patch_seq is not None  # the live layers were replaced in place
        heat = page.evaluate("() => window.gpMaps['deck-map'].layers['heatmap'].props.data.length")
        assert heat >= 1
        assert page.requests.outside(server) == []
        assert any(u.startswith(server + "/vendor/deck.js") for u in page.requests.urls)
    finally:
        page.close()


def test_wall_screen_recovers_after_a_server_restart(street: dict, browser) -> None:  # noqa: ANN001
    port = free_port()
    env = {"GRIDPULSE_DATABASE_URL": settings().database_url, "GRIDPULSE_MAP_REFRESH_S": "2"}
    with app_server(env, port=port) as url:
        page = login_page(browser, url, street["users"]["street"], PASSWORD, "/wall")
        wait_map(page)
        page.wait_for_function("window.gpLastBeat >= 1", timeout=20000)
        page.evaluate("window.gpBeforeRestart = true")  # gone only if the page really reloads
    # The wall screen is now without a server, for longer than its watchdog's 30 s: a shorter gap only pauses
    # the refreshes (the session lives in Redis and survives the restart), which resume without a reload.
    time.sleep(33)
    try:
        with app_server(env, port=port):
            # The watchdog sees the refreshes stop, waits for the server to answer, and reloads the page.
            # (30 s without a refresh, a 5 s watchdog tick, the new server's first answer: minutes on a busy machine)
            page.wait_for_function("window.gpBeforeRestart === undefined", timeout=180000)
            wait_map(page, timeout_ms=120000)  # a fresh page on a new server: its first layers take longest
            page.wait_for_function("window.gpLastBeat >= 1", timeout=120000)
            assert page.url.endswith("/wall")  # the session survived the restart: no login page
            assert page.locator(".wall").count() == 1
    finally:
        page.close()


CLICK_FIRST = """(layerId) => {
  const m = window.gpMaps['deck-map'];
  const layer = m.deck.props.layers.find(l => l.id === layerId);
  // The object whose top face is highest: nothing stands in front of it when seen from above.
  const top = r => (r.polygon[0][0][2] || 0) + r.height;
  const row = layer.props.data.reduce((a, b) => (top(b) > top(a) ? b : a));
  const ring = row.polygon[0];
  let x = 0, y = 0; const n = ring.length - 1;
  for (let i = 0; i < n; i++) { x += ring[i][0]; y += ring[i][1]; }
  const z = (ring[0][2] || 0) + row.height;
  const [px, py] = m.deck.getViewports()[0].project([x / n, y / n, z]);
  const box = m.el.getBoundingClientRect();
  return {x: box.left + px, y: box.top + py, id: row.id};
}"""


def test_drill_down_by_clicking_the_map(server: str, street: dict, browser) -> None:  # noqa: ANN001
    mark = AuditMark()
    user = street["users"]["supervisor"]
    page = login_page(browser, server, user, PASSWORD, f"/drill?place=grid:{street['grid']}")
    try:
        wait_map(page)
        target = page.evaluate(CLICK_FIRST, "buildings")
        page.mouse.click(target["x"], target["y"])
        page.wait_for_url(f"**place=building:{target['id']}", timeout=20000)
        page.wait_for_function("document.getElementById('drill-children')?.innerText.includes('层（')", timeout=20000)
        assert street["grid"][:12] in page.url or "building" in page.url
        assert "›" in page.inner_text("#breadcrumbs")
        wait_map(page)
        dwelling = page.evaluate(CLICK_FIRST, "dwellings")
        page.mouse.click(dwelling["x"], dwelling["y"])
        page.wait_for_url(f"**place=dwelling:{dwelling['id']}", timeout=20000)
        page.wait_for_selector("#drill-people", timeout=20000)
        assert audit_rows(mark, "dwelling.people", f"dwelling:{dwelling['id']}", user)
        person_link = page.query_selector("#drill-people a")
        if person_link is not None:  # an empty dwelling has no one to open
            person_link.click()
            page.wait_for_selector("#drill-person", timeout=20000)
            assert "*" in page.inner_text("#drill-person")  # the ID number is masked for everyone
            person = page.url.split("person:")[1]
            assert audit_rows(mark, "person.view", f"person:{person}", user)
            assert page.query_selector("#drill-history-note") is not None  # movement is police work
            assert not audit_rows(mark, "person.access_history", f"person:{person}", user)
        page.go_back()
        page.wait_for_url(f"**place=dwelling:{dwelling['id']}", timeout=20000)
        assert page.requests.outside(server) == []
    finally:
        page.close()


def _login_session(server: str, username: str) -> requests.Session:
    http = http_login(server, username, PASSWORD)
    assert "gp_session" in http.cookies
    return http


def _drill_callback(http: requests.Session, server: str, search: str) -> requests.Response:
    body = {
        "output": "..breadcrumbs.children...drill-detail.children...map-spec.data..",
        "outputs": [{"id": "breadcrumbs", "property": "children"}, {"id": "drill-detail", "property": "children"},
                    {"id": "map-spec", "property": "data"}],
        "inputs": [{"id": "drill-url", "property": "search", "value": search}],
        "changedPropIds": ["drill-url.search"], "state": [],
    }
    return http.post(server + "/_dash-update-component", json=body, timeout=20)


def test_a_crafted_callback_outside_the_jurisdiction_is_refused_and_audited(server: str, street: dict) -> None:
    mark = AuditMark()
    user = street["users"]["other_supervisor"]
    http = _login_session(server, user)
    # The other community's supervisor: their own grid opens, the busiest community's places do not.
    inside = _drill_callback(http, server, f"?place=grid:{street['own_grid_of_other']}")
    assert inside.status_code == 200 and "无权" not in inside.text
    for place in (f"grid:{street['grid']}", f"person:{street['person_of_supervisor']}"):
        answer = _drill_callback(http, server, f"?place={place}")
        assert answer.status_code == 200
        payload = answer.json()["response"]
        assert "无权查看" in json.dumps(payload, ensure_ascii=False)
        assert payload["map-spec"]["data"] is None  # no layer data either
        assert audit_rows(mark, "access.denied", place, user)
    # Without a session the same request is refused before any callback runs.
    anonymous = requests.post(server + "/_dash-update-component", json={"output": "x"}, timeout=10)
    assert anonymous.status_code == 401


def test_key_site_export_is_audited(server: str, street: dict, browser) -> None:  # noqa: ANN001
    mark = AuditMark()
    user = street["users"]["police"]
    page = login_page(browser, server, user, PASSWORD, "/key-sites")
    try:
        page.wait_for_selector("#ks-table", timeout=30000)
        assert len(page.query_selector_all("#ks-table tr")) >= 2
        page.fill("#ks-reason", "案件 2026-001 人流核查")
        with page.expect_download(timeout=20000) as download:
            page.click("#ks-export")
        content = open(download.value.path(), encoding="utf-8").read()
        assert content.startswith("site_code,site_name,bucket_start,entries,exits,occupancy,surge")
        rows = audit_rows(mark, "keysite.export", username=user)
        assert rows and rows[-1].reason == "案件 2026-001 人流核查"
    finally:
        page.close()


def test_the_audit_log_page_is_for_admins(server: str, street: dict, browser) -> None:  # noqa: ANN001
    mark = AuditMark()
    page = login_page(browser, server, street["users"]["admin"], PASSWORD, "/audit")
    try:
        page.wait_for_selector("#audit-rows", timeout=30000)
        assert "login" in page.inner_text("#audit-rows")
    finally:
        page.close()
    http = _login_session(server, street["users"]["police"])
    body = {"output": "audit-table.children", "outputs": {"id": "audit-table", "property": "children"},
            "inputs": [{"id": i, "property": "value", "value": None} for i in ("audit-user", "audit-action", "audit-subject")]
            + [{"id": "audit-denied", "property": "value", "value": []}], "changedPropIds": [], "state": []}
    answer = http.post(server + "/_dash-update-component", json=body, timeout=20)
    assert answer.status_code == 403 and "account:" not in answer.text  # the one page guard refuses the callback
    refusals = audit_rows(mark, "access.denied", "page:/audit", street["users"]["police"])
    assert [r.detail["via"].split(" ")[0] for r in refusals] == ["callback"]


def test_big_layers_come_gzipped_and_cached_and_only_with_a_session(server: str, street: dict) -> None:
    assert requests.get(server + "/layers/buildings.json", timeout=10, allow_redirects=False).status_code in (302, 401)
    http = _login_session(server, street["users"]["supervisor"])
    answer = http.get(server + "/layers/buildings.json", headers={"Accept-Encoding": "gzip"}, timeout=20)
    assert answer.headers["Content-Encoding"] == "gzip" and "ETag" in answer.headers
    rows = answer.json()
    assert rows and {r["grid"][:12] for r in rows} == {street["grid"][:12]}  # the supervisor's community only
    again = http.get(server + "/layers/buildings.json", headers={"If-None-Match": answer.headers["ETag"]}, timeout=20)
    assert again.status_code == 304
    bundle = http.get(server + "/vendor/deck.js", headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert bundle.status_code == 200 and bundle.headers["Content-Encoding"] == "gzip" and b"JSONConverter" in bundle.content


def test_the_time_slider_replays_an_hour_of_flows(server: str, street: dict) -> None:
    http = _login_session(server, street["users"]["street"])
    with transaction() as s:
        day = s.execute(text("SELECT (max(minute) AT TIME ZONE 'Asia/Shanghai')::date - 1 FROM gate_flow_minute")).scalar_one()

    def hour(h: int) -> dict:
        body = {"output": "map-patch.data", "outputs": {"id": "map-patch", "property": "data"},
                "inputs": [{"id": "replay-hour", "property": "value", "value": h}],
                "state": [{"id": "replay-day", "property": "data", "value": day.isoformat()}],
                "changedPropIds": ["replay-hour.value"]}
        return http.post(server + "/_dash-update-component", json=body, timeout=20).json()["response"]["map-patch"]["data"]

    morning, night = hour(8), hour(3)
    assert set(morning["layers"]) == {"heatmap", "gates", "gate_arrows"}  # only the flow layers change; the camera is not touched
    weight = lambda patch: sum(p["weight"] for p in patch["layers"]["heatmap"])  # noqa: E731
    assert weight(morning) > weight(night) >= 0


def test_a_click_on_the_one_map_opens_the_building(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, street["users"]["supervisor"], PASSWORD, "/")
    try:
        wait_map(page)
        target = page.evaluate(CLICK_FIRST, "buildings")  # the buildings came from the cached /layers route
        page.mouse.click(target["x"], target["y"])
        page.wait_for_url(f"**/drill?place=building:{target['id']}", timeout=20000)
        page.wait_for_function("document.getElementById('drill-children')?.innerText.includes('层（')", timeout=20000)
        assert page.requests.outside(server) == []
    finally:
        page.close()


def test_layer_toggles_hide_a_layer_and_the_wall_reads_on_4k(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, street["users"]["street"], PASSWORD, "/")
    try:
        wait_map(page)
        page.get_by_label("楼栋（三维）").uncheck()
        page.wait_for_function("!window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'buildings').props.visible",
                               timeout=10000)
        assert page.evaluate("window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'grids').props.visible")
        grids = "window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'grids').props.data"
        page.wait_for_function(f"Array.isArray({grids}) && {grids}.length > 0", timeout=20000)  # rows, not their URL
        assert "实时人口" in page.evaluate(f"{grids}[0].tip")
        colours = "JSON.stringify(window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'grids').props.data.map(g => g.color))"
        before = page.evaluate(colours)
        page.get_by_label("着色：预警").check()  # grids and buildings re-coloured from the cached routes
        page.wait_for_function("document.getElementById('deck-map').dataset.patch === 'fill-alerts'", timeout=10000)
        page.wait_for_function(f"Array.isArray(window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'grids').props.data)"
                               f" && {colours} !== {json.dumps(before)}", timeout=20000)
        page.get_by_label("楼栋（三维）").check()
        page.wait_for_function("window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'buildings').props.visible",
                               timeout=10000)
        # the re-coloured buildings arrive from their cached route after the toggle: wait for the rows
        page.wait_for_function("(() => { const d = window.gpMaps['deck-map'].deck.props.layers"
                               ".find(l => l.id === 'buildings').props.data; return Array.isArray(d) && d.length > 0; })()",
                               timeout=20000)
        target = page.evaluate(CLICK_FIRST, "buildings")
        page.mouse.move(target["x"] - 2, target["y"] - 2)
        page.mouse.move(target["x"], target["y"])  # a Chinese tooltip on hover
        # whatever is on top there (the building, or an alert or gate marker drawn over it) explains itself in Chinese
        page.wait_for_function("[...document.querySelectorAll('.deck-tooltip')].some(e => /[层预警进出]/.test(e.innerText))",
                               timeout=20000)
    finally:
        page.close()
    wall = login_page(browser, server, street["users"]["street"], PASSWORD, "/wall", width=3840, height=2160)
    try:
        wait_map(wall, 120000)  # 4K on a software GPU, and the wall's sparklines load Plotly: slow on a busy machine
        size = wall.evaluate("parseFloat(getComputedStyle(document.getElementById('kpi-population')).fontSize)")
        assert size >= 100  # KPI figures scale with the screen: readable across a room on a 4K wall
        box = wall.locator("#deck-map").bounding_box()
        assert box["width"] > 3700 and box["height"] > 1500
    finally:
        wall.close()


ZOOM_INTO_TALLEST = """() => {
  const m = window.gpMaps['deck-map'];
  const rows = m.deck.props.layers.find(l => l.id === 'buildings').props.data;
  const row = rows.reduce((a, b) => (b.height > a.height ? b : a));
  const ring = row.polygon[0]; const n = ring.length - 1; let x = 0, y = 0;
  for (let i = 0; i < n; i++) { x += ring[i][0]; y += ring[i][1]; }
  m.deck.setProps({initialViewState: {longitude: x / n, latitude: y / n, zoom: 18.5, pitch: 55, bearing: 0}});
  return {id: row.id, floors: row.floors};
}"""


def test_zooming_the_one_map_into_a_building_shows_its_dwellings_floor_by_floor(server: str, street: dict,
                                                                                browser) -> None:  # noqa: ANN001
    mark = AuditMark()
    user = street["users"]["supervisor"]
    page = login_page(browser, server, user, PASSWORD, "/")
    try:
        wait_map(page)
        assert page.get_attribute("#deck-map", "data-zoom-building") is None  # the street view shows buildings only
        building = page.evaluate(ZOOM_INTO_TALLEST)
        page.wait_for_selector(f"#deck-map[data-zoom-building='{building['id']}']", timeout=20000, state="attached")
        rows = page.evaluate("window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'dwellings').props.data")
        assert rows and all(r["kind"] == "dwelling" and "层" in r["tip"] for r in rows)
        assert {r["floor"] for r in rows} == set(range(1, building["floors"] + 1))  # every floor, stacked
        page.evaluate("window.gpMaps['deck-map'].deck.setProps({initialViewState: {longitude: 118.765, latitude: 32.064,"
                      " zoom: 15, pitch: 40, bearing: 0}})")
        page.wait_for_function("document.getElementById('deck-map').dataset.zoomBuilding === undefined", timeout=20000)
        assert page.requests.outside(server) == []
    finally:
        page.close()
    # The same route refuses (and audits) a building outside the viewer's jurisdiction: for the worker of the
    # busiest grid, one in the community's other grid.
    user = street["users"]["worker"]
    with transaction() as s:
        outside = s.execute(text("""SELECT b.id FROM building b JOIN grid g ON g.id = b.grid_id
                                    WHERE g.code LIKE :c AND g.code <> :g ORDER BY b.id LIMIT 1"""),
                            {"c": street["grid"][:12] + "%", "g": street["grid"]}).scalar_one()
    http = _login_session(server, user)
    answer = http.get(f"{server}/layers/dwellings/{outside}.json", timeout=20)
    assert answer.status_code == 403 and "kind" not in answer.text
    assert audit_rows(mark, "access.denied", f"building:{outside}", user)


def test_a_prefetched_level_is_handed_to_the_callback_and_a_refusal_audited_once(server: str, street: dict) -> None:
    mark = AuditMark()
    user = street["users"]["other_supervisor"]
    http = _login_session(server, user)
    outside = f"grid:{street['grid']}"
    assert http.post(server + "/drill/prefetch", json={"search": f"?place={outside}"}, timeout=20).status_code == 204
    assert len(audit_rows(mark, "access.denied", outside, user)) == 1  # refused when the pointer went down
    answer = _drill_callback(http, server, f"?place={outside}")
    payload = answer.json()["response"]
    assert "无权查看" in json.dumps(payload, ensure_ascii=False) and payload["map-spec"]["data"] is None
    assert len(audit_rows(mark, "access.denied", outside, user)) == 1  # the callback took the prefetched refusal
    again = _drill_callback(http, server, f"?place={outside}")  # claimed once: a later request is checked again
    assert "无权查看" in json.dumps(again.json(), ensure_ascii=False)
    assert len(audit_rows(mark, "access.denied", outside, user)) == 2
    own = f"?place=grid:{street['own_grid_of_other']}"
    assert http.post(server + "/drill/prefetch", json={"search": own}, timeout=20).status_code == 204
    assert "drill-children" in _drill_callback(http, server, own).text
    # People are never read ahead (their reads are audited when shown); without a session nothing is computed.
    person = f"?place=person:{street['person_of_supervisor']}"
    assert http.post(server + "/drill/prefetch", json={"search": person}, timeout=20).status_code == 400
    anonymous = requests.post(server + "/drill/prefetch", json={"search": own}, timeout=10, allow_redirects=False)
    assert anonymous.status_code in (302, 401)
