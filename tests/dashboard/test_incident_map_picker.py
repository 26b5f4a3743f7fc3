"""事件上报 placed by a tap on the map, on a phone (390 × 844, a touch screen) in real Chromium.

What a grid worker on patrol does: opens 事件上报, opens the map, taps where the incident is and sees a marker
there; lets the phone locate them instead (the marker jumps to the phone's position); taps again to put it
back where it belongs; submits — the incident row has the tapped point, from the map, in the worker's grid.
Hard negatives: a tap in the neighbouring grid (a few metres over the boundary) is refused on the spot, the
marker goes and nothing can be submitted with it; the same point sent by a crafted callback request is
refused by the server with a clear message, creates nothing, and the refusal is audited.
"""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from PIL import Image
from sqlalchemy import text

from core.config import settings
from core.passwords import hash_password
from core.viewer import Role, Viewer
from blockdata.db import transaction
from blockdata.models import Account
from tests.audit import AuditMark
from tests.browser import app_server
from tests.seeded import seed_tiny_swept

pytestmark = pytest.mark.browser
ANCHOR = dt.date(2026, 11, 20)
PASSWORD = "test-pass-1234"
PHONE = {"width": 390, "height": 844}

_POINTS = text(
    """WITH g AS (SELECT id, code, geom, ST_Envelope(geom) AS box FROM grid WHERE id = :g)
       SELECT ST_X(a) AS ax, ST_Y(a) AS ay, ST_X(b) AS bx, ST_Y(b) AS by, ST_Distance(a::geography, b::geography) AS apart
       FROM (SELECT ST_PointOnSurface(ST_Intersection(g.geom, ST_MakeEnvelope(ST_XMin(box), ST_YMin(box),
                      (ST_XMin(box) + ST_XMax(box)) / 2, (ST_YMin(box) + ST_YMax(box)) / 2, 4326))) AS a,
                    ST_PointOnSurface(ST_Intersection(g.geom, ST_MakeEnvelope((ST_XMin(box) + ST_XMax(box)) / 2,
                      (ST_YMin(box) + ST_YMax(box)) / 2, ST_XMax(box), ST_YMax(box), 4326))) AS b FROM g) p"""
)
# Points of the other grids within 15 m of the worker's grid: just over the boundary.
_NEIGHBOURS = text(
    """SELECT o.code, ST_X(p) AS x, ST_Y(p) AS y FROM grid o, grid g,
              LATERAL (SELECT ST_PointOnSurface(ST_Intersection(o.geom, ST_Buffer(g.geom::geography, 15)::geometry)) AS p) q
       WHERE g.id = :g AND o.id <> g.id AND ST_DWithin(o.geom::geography, g.geom::geography, 15)
         AND NOT ST_IsEmpty(p) AND ST_Covers(o.geom, p) AND NOT ST_Covers(g.geom, p)
       ORDER BY o.code"""
)


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    seed_tiny_swept(ANCHOR)
    with transaction() as s:
        g = s.execute(text("SELECT id, code, worker_account_id FROM grid WHERE worker_account_id IS NOT NULL ORDER BY code LIMIT 1")).one()
        worker = s.get(Account, g.worker_account_id)
        worker.password_hash = hash_password(PASSWORD)
        viewer = Viewer(worker.id, Role.worker, tuple(worker.jurisdiction), worker.username)
        pts = s.execute(_POINTS, {"g": g.id}).one()
        outside = next(r for r in s.execute(_NEIGHBOURS, {"g": g.id}) if not viewer.covers(r.code))
    assert pts.apart > 40, "two places in the grid far enough apart to tell the markers apart"
    return {"grid_id": g.id, "worker": worker.username, "worker_id": worker.id, "a": (pts.ax, pts.ay),
            "b": (pts.bx, pts.by), "outside": (outside.x, outside.y), "outside_grid": outside.code}


@pytest.fixture(scope="module")
def server(street: dict):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url


def _phone(browser, server: str, street: dict):  # noqa: ANN001, ANN202
    """A logged-in touch phone whose position (when asked for) is point b of the worker's grid."""
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, bypass_csp=True,
                                  geolocation={"longitude": street["b"][0], "latitude": street["b"][1]},
                                  permissions=["geolocation"])
    page = context.new_page()
    page.goto(f"{server}/login?next=/orders")
    page.fill("input[name=username]", street["worker"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.locator("#incident-panel").wait_for(timeout=30000)
    page.locator("#incident-panel summary").tap()
    page.locator("#incident-map-open").tap()
    page.wait_for_function("document.querySelector('#deck-map') && document.querySelector('#deck-map').dataset.loaded === '1'",
                           timeout=90000)
    page.evaluate("document.querySelector('#deck-map').scrollIntoView({block: 'center'})")
    return context, page


def _on_screen(page, lon: float, lat: float) -> tuple[float, float]:  # noqa: ANN001
    """Where a lon/lat is on the phone's screen, from the map's own camera (the map must show it: asserted)."""
    at = page.evaluate("""([lon, lat]) => {
        const m = window.gpMaps['deck-map'], vp = m.deck.getViewports()[0], p = vp.project([lon, lat]);
        const b = m.deck.getCanvas().getBoundingClientRect();
        return {x: b.left + p[0], y: b.top + p[1], left: b.left, top: Math.max(b.top, 0),
                right: Math.min(b.right, window.innerWidth), bottom: Math.min(b.bottom, window.innerHeight)}; }""",
                       [lon, lat])
    assert at["left"] + 3 < at["x"] < at["right"] - 3 and at["top"] + 3 < at["y"] < at["bottom"] - 3, (
        "the picker shows the whole of the worker's area on the phone's screen", at)
    return at["x"], at["y"]


def _marker(page) -> list:  # noqa: ANN001
    return page.evaluate("""() => { const l = window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'incident_pick');
                                    return l ? l.props.data : null; }""")


def _wait_marker_at(page, lon: float, lat: float) -> None:  # noqa: ANN001
    page.wait_for_function(
        """([lon, lat]) => { const l = window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'incident_pick');
                             return l && l.props.data.length === 1 && Math.abs(l.props.data[0].position[0] - lon) < 4e-5
                                    && Math.abs(l.props.data[0].position[1] - lat) < 4e-5; }""", arg=[lon, lat], timeout=30000)


def _magenta_near(page, x: float, y: float, tries: int = 40) -> bool:  # noqa: ANN001
    """The marker is drawn there: its magenta among the screen's pixels around the point (frames may lag a little)."""
    for _ in range(tries):
        shot = Image.open(io.BytesIO(page.screenshot(clip={"x": x - 7, "y": y - 7, "width": 14, "height": 14}))).convert("RGB")
        if any(r > 200 and g < 90 and b > 120 for r, g, b in shot.getdata()):
            return True
        page.wait_for_timeout(250)
    return False


def test_a_tapped_point_is_shown_moved_and_reported(server: str, street: dict, browser) -> None:  # noqa: ANN001
    context, page = _phone(browser, server, street)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1, "nothing to scroll sideways"
    page.locator("#incident-category input[value=facility]").check()
    page.locator("#incident-description").fill("井盖缺失，地图点选")
    assert _marker(page) == [], "no marker before a point is chosen"

    ax, ay = _on_screen(page, *street["a"])
    page.touchscreen.tap(ax, ay)
    _wait_marker_at(page, *street["a"])
    page.locator("#incident-point-ok").wait_for(timeout=30000)
    assert page.locator("#incident-where").inner_text().startswith("已选点")
    assert _magenta_near(page, ax, ay), "the marker is drawn where the finger was"

    # "use my location" instead: the marker jumps to the phone's position (point b)
    page.locator("#incident-locate").tap()
    _wait_marker_at(page, *street["b"])
    page.wait_for_function("document.querySelector('#incident-where').innerText.startsWith('已定位：')", timeout=30000)
    bx, by = _on_screen(page, *street["b"])
    assert _magenta_near(page, bx, by)
    assert not _magenta_near(page, ax, ay, tries=1), "one marker: it moved"

    # another tap puts it back where the incident is
    page.touchscreen.tap(ax, ay)
    _wait_marker_at(page, *street["a"])
    page.wait_for_function("document.querySelector('#incident-where').innerText.startsWith('已选点')", timeout=30000)
    tapped = _marker(page)[0]["position"]
    page.locator("#incident-submit").tap()
    page.locator("#incident-done").wait_for(timeout=30000)
    context.close()
    with transaction() as s:
        row = s.execute(text(
            """SELECT grid_id, location_source, ST_X(geom) AS lon, ST_Y(geom) AS lat,
                      ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) AS off
               FROM incident WHERE description = '井盖缺失，地图点选'"""), {"x": street["a"][0], "y": street["a"][1]}).one()
    assert row.location_source == "map" and row.grid_id == street["grid_id"]
    assert (row.lon, row.lat) == pytest.approx(tuple(tapped), abs=1e-9), "the point the marker showed is the one stored"
    assert row.off < 5, f"within a few metres of where the finger was: {row.off:.1f} m"


def test_a_tap_outside_the_workers_grid_is_refused(server: str, street: dict, browser) -> None:  # noqa: ANN001
    context, page = _phone(browser, server, street)
    page.locator("#incident-description").fill("越界点选，不应上报")
    ox, oy = _on_screen(page, *street["outside"])
    page.touchscreen.tap(ox, oy)
    page.locator("#incident-point-refused").wait_for(timeout=30000)
    assert "不在您负责的网格内" in page.locator("#incident-where").inner_text()
    page.wait_for_function("window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === 'incident_pick').props.data.length === 0",
                           timeout=30000)
    page.locator("#incident-submit").tap()
    page.locator("#incident-refused").wait_for(timeout=30000)
    assert "give the location" in page.locator("#incident-refused").inner_text()
    context.close()
    with transaction() as s:
        assert s.execute(text("SELECT count(*) FROM incident WHERE description = '越界点选，不应上报'")).scalar_one() == 0


def test_a_crafted_callback_with_a_point_outside_is_refused_and_audited(server: str, street: dict, browser) -> None:  # noqa: ANN001
    context, page = _phone(browser, server, street)
    mark = AuditMark()
    lon, lat = street["outside"]
    body = {
        "output": "..incident-result.children...incident-description.value..",
        "outputs": [{"id": "incident-result", "property": "children"}, {"id": "incident-description", "property": "value"}],
        "inputs": [{"id": "incident-submit", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["incident-submit.n_clicks"],
        "state": [{"id": "incident-category", "property": "value", "value": "public_order"},
                  {"id": "incident-description", "property": "value", "value": "伪造请求：越界上报"},
                  {"id": "incident-geo", "property": "data", "value": {"lon": lon, "lat": lat, "source": "map"}},
                  {"id": "incident-address", "property": "value", "value": None},
                  {"id": "incident-photo", "property": "contents", "value": None}],
    }
    answer = page.evaluate("""body => {
          const csrf = decodeURIComponent((document.cookie.match(/(?:^|; )_csrf_token=([^;]*)/) || [])[1] || '');
          return fetch('/_dash-update-component', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf}, body: JSON.stringify(body)})
            .then(r => r.text().then(t => ({status: r.status, text: t}))); }""", body)
    context.close()
    assert answer["status"] == 200, answer
    said = json.loads(answer["text"])["response"]["incident-result"]["children"]["props"]["children"]
    assert said.startswith("未上报") and f"grid {street['outside_grid']}, outside your jurisdiction" in said, said
    with transaction() as s:
        assert s.execute(text("SELECT count(*) FROM incident WHERE description = '伪造请求：越界上报'")).scalar_one() == 0
    refused = mark.rows(action="access.denied", username=street["worker"])
    assert [r.subject for r in refused] == [f"point:{lon},{lat}"]
