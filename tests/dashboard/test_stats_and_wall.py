"""统计 in a real browser, and the wall screen's trends and fit at 1080p and 4K (Playwright, Debian's chromium).

The page's figures are the ones ``analytics.figures`` computes (themselves checked against independent
SQL in tests/analytics/test_indicators.py); here: that the page shows them, with its charts and map,
for the viewer's own places only; that a child is one click away; that one click makes the weekly report;
and that the wall fills a 1080p and a 4K screen alike and its trends move when events land.
"""
from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select, text

from analytics import figures as F
from analytics.stats_refresh import refresh
from blockdata.db import ensure_event_partitions, transaction
from blockdata.models import Account, AuditLog
from core.config import settings
from core.events import uuid7
from core.passwords import hash_password
from core.viewer import SYSTEM
from ingest.writer import land
from tests.browser import app_server, free_port, login_page
from tests.seeded import seed_tiny_swept

pytestmark = pytest.mark.browser
D = dt.date(2026, 11, 20)
WEEK = "2026-W47"
STREET, COMMUNITY = "320106001000", "320106001005"
PASSWORD = "stats-test-pass-1234"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    from dashboard.vendor import deck_bundle_missing

    if deck_bundle_missing():
        pytest.fail(f"deck.gl is not installed: run `scripts/bootstrap.sh node` — missing {deck_bundle_missing()}")
    as_of = seed_tiny_swept(D)
    users = {}
    with transaction() as s:
        refresh(s, as_of + dt.timedelta(hours=12))
        for account in s.scalars(select(Account)):
            account.password_hash = hash_password(PASSWORD)
            if account.role.value == "supervisor" and account.jurisdiction == [COMMUNITY]:
                users["supervisor"] = account.username
            elif account.role.value in ("street", "police", "admin", "worker"):
                users.setdefault(account.role.value, account.username)
    return {"users": users}


@pytest.fixture(scope="module")
def server(street: dict):  # noqa: ANN201
    env = {"GRIDPULSE_DATABASE_URL": settings().database_url, "GRIDPULSE_MAP_REFRESH_S": "2"}
    with app_server(env, port=free_port()) as url:
        yield url



def open_as(browser, server: str, user: str, path: str, **size: int):  # noqa: ANN001, ANN201
    """Log in (the login form keeps only the path of ``next``), then open the full URL."""
    page = login_page(browser, server, user, PASSWORD, path.split("?")[0], **size)
    page.goto(server + path)
    return page


def _num(s: str) -> float | None:
    s = s.strip().rstrip("%").replace(",", "")
    return None if s == "—" else float(s)


def test_the_stats_page_shows_the_figures_charts_map_and_children(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = open_as(browser, server, street["users"]["street"], f"/stats?place={STREET}&week={WEEK}")
    try:
        page.wait_for_selector("#stats-title", timeout=90000)
        assert "宁海路街道" in page.inner_text("#stats-title") and "2026年第47周" in page.inner_text("#stats-title")
        with transaction() as s:
            want = F.figures_for(s, SYSTEM, STREET, F.iso_week(WEEK)).values
            before = F.figures_for(s, SYSTEM, STREET, F.iso_week("2026-W46")).values
        for key in ("pop_actual", "pop_floating", "entries", "exits", "orders_opened", "alerts_open", "cov_credential", "density"):
            assert _num(page.inner_text(f"#stat-{key}")) == pytest.approx(want[key], abs=0.05), key
            shown = _num(page.inner_text(f"#stat-prev-{key}"))
            assert shown == (None if before[key] is None else pytest.approx(before[key], abs=0.05)), key
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6", timeout=30000)
        titles = page.inner_text(".stats-graphs")
        for title in ("每日通行（人次）", "实有人口构成（人）", "工单办理（件/日）", "各规则预警准确率"):
            assert title in titles, title
        fills = page.evaluate("[...document.querySelectorAll('#stats-map-graph path.js-fill')].map(p => p.style.fill)")
        assert len(fills) >= 2 and len(set(fills)) >= 2  # the communities coloured by their populations
        page.click("#stats-children a.child-link >> nth=0")
        page.wait_for_function("document.getElementById('stats-title').innerText.includes('社区')", timeout=30000)
        assert "place=3201060010" in page.url
        assert page.requests.outside(server) == []
    finally:
        page.close()


def test_one_click_makes_the_weekly_report(server: str, street: dict, browser) -> None:  # noqa: ANN001
    from openpyxl import load_workbook

    page = open_as(browser, server, street["users"]["street"], f"/stats?place={COMMUNITY}&week={WEEK}")
    try:
        page.wait_for_selector("#stats-report", timeout=30000)
        with page.expect_download(timeout=60000) as first:
            page.click("#stats-report")
        page.wait_for_function("document.getElementById('stats-report-msg').innerText.includes('已留痕')", timeout=60000)
        got = first.value
        data = Path(got.path()).read_bytes()
        name = got.suggested_filename
        assert name in (f"weekly-{COMMUNITY}-{WEEK}.xlsx", f"weekly-{COMMUNITY}-{WEEK}.pdf")
        if name.endswith(".xlsx"):
            wb = load_workbook(io.BytesIO(data))
            assert street["users"]["street"] in wb["汇总"]["A1"].value
        else:
            assert data.startswith(b"%PDF")
    finally:
        page.close()
    with transaction() as s:
        row = s.scalar(select(AuditLog).where(AuditLog.action == "report.weekly",
                                              AuditLog.username == street["users"]["street"]).order_by(AuditLog.id.desc()))
    assert row.subject == f"place:{COMMUNITY}" and row.detail["week"] == WEEK


def test_a_supervisor_sees_their_community_and_is_refused_the_street(server: str, street: dict, browser) -> None:  # noqa: ANN001
    user = street["users"]["supervisor"]
    page = open_as(browser, server, user, f"/stats?place={COMMUNITY}&week={WEEK}", width=390, height=844)
    try:
        page.wait_for_selector("#stats-title", timeout=90000)
        assert "颐和路社区" in page.inner_text("#stats-title")
        assert page.evaluate("document.documentElement.scrollWidth") <= 400  # fits a phone, no sideways scrolling
        page.goto(f"{server}/stats?place={STREET}&week={WEEK}")
        page.wait_for_selector("#stats-refused", timeout=90000)
        assert "outside your jurisdiction" in page.inner_text("#stats-refused")
        assert page.locator("#stat-pop_actual").count() == 0
    finally:
        page.close()
    with transaction() as s:
        refused = s.scalars(select(AuditLog).where(AuditLog.username == user, AuditLog.action == "access.denied",
                                                   AuditLog.subject == f"stats:{STREET}")).all()
    assert len(refused) >= 1


def test_police_see_population_and_flows_but_not_the_work_of_grid_workers(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = open_as(browser, server, street["users"]["police"], f"/stats?place={STREET}&week={WEEK}")
    try:
        page.wait_for_selector("#stat-pop_actual", timeout=90000)
        assert page.locator("#stat-entries").count() == 1 and page.locator("#stat-orders_opened").count() == 0
    finally:
        page.close()
    page = open_as(browser, server, street["users"]["worker"], f"/stats?place={STREET}")
    try:
        page.wait_for_selector("#page-refused", timeout=30000)  # a grid worker has no 统计 page
    finally:
        page.close()


def _wall_at(browser, server: str, user: str, width: int, height: int) -> dict:  # noqa: ANN001
    page = login_page(browser, server, user, PASSWORD, "/wall", width=width, height=height)
    page.wait_for_selector("#deck-map[data-loaded='1']", timeout=150000, state="attached")
    page.wait_for_function("document.querySelectorAll('.kpi .spark .main-svg').length >= 4", timeout=90000)
    time.sleep(1.0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = page.screenshot(path=str(SHOTS / f"wall-{width}x{height}.png"))
    px = lambda sel, prop: page.evaluate(f"parseFloat(getComputedStyle(document.querySelector('{sel}')).{prop})")  # noqa: E731
    measured = {
        "page": page, "shot": shot, "map": page.locator("#deck-map").bounding_box(),
        "fit_zoom": float(page.get_attribute("#deck-map", "data-fit-zoom")),
        "symbol_scale": float(page.get_attribute("#deck-map", "data-symbol-scale") or 1),
        "legend": px(".wall .legend", "fontSize"), "nav": px(".topbar nav a", "fontSize"),
        "ticker": px(".wall .ticker", "fontSize"), "kpi": px("#kpi-population", "fontSize"),
        "spark": page.locator("#trend-entries").bounding_box(),
        "scroll": page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"),
    }
    return measured


def test_the_wall_fills_1080p_and_4k_alike(server: str, street: dict, browser) -> None:  # noqa: ANN001
    from PIL import Image

    user = street["users"]["street"]
    hd, uhd = _wall_at(browser, server, user, 1920, 1080), _wall_at(browser, server, user, 3840, 2160)
    try:
        for m, (w, h) in ((hd, (1920, 1080)), (uhd, (3840, 2160))):
            assert m["scroll"] == [w, h]  # nothing spills off the screen
            assert m["map"]["width"] > 0.97 * w and m["map"]["height"] > 0.55 * h  # the map takes the room left
            image = Image.open(io.BytesIO(m["shot"])).convert("RGB")
            assert image.size == (w, h)
        # twice the pixels: the fitted map is one zoom level closer (everything in metres twice as big)…
        assert uhd["fit_zoom"] - hd["fit_zoom"] == pytest.approx(1.0, abs=0.15)
        # …and what is drawn in pixels and every text scale with it
        assert hd["symbol_scale"] == 1 and uhd["symbol_scale"] == pytest.approx(2.0)
        for key in ("legend", "nav", "ticker"):
            assert uhd[key] == pytest.approx(2 * hd[key], rel=0.12), key
        assert uhd["kpi"] >= 1.5 * hd["kpi"]
        assert uhd["spark"]["height"] >= 1.6 * hd["spark"]["height"]
    finally:
        hd["page"].close()
        uhd["page"].close()


def test_the_wall_trends_move_when_events_land(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, street["users"]["street"], PASSWORD, "/wall")
    try:
        page.wait_for_selector("#trend-entries-last", timeout=150000)
        before = int(page.inner_text("#trend-entries-last").rsplit(" ", 1)[1].replace(",", ""))
        now = dt.datetime.now(dt.timezone.utc)
        with transaction() as s:
            ensure_event_partitions(s, (now - dt.timedelta(days=1)).date().isoformat(), (now + dt.timedelta(days=1)).date().isoformat())
            gate, compound = s.execute(text("SELECT id, compound_id FROM gate WHERE compound_id IS NOT NULL ORDER BY id LIMIT 1")).one()
        events = [{"v": "1", "event_id": str(uuid7(int(now.timestamp() * 1000) - i)), "ts": (now - dt.timedelta(milliseconds=i)).isoformat(),
                   "gate_id": str(gate), "compound_id": str(compound), "direction": "in", "method": "card", "result": "open",
                   "reason": "ok"} for i in range(23)]
        with psycopg.connect(settings().database_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
            land(conn, events)  # the ingest worker's own landing: events, minute rollup, hourly rollup by trigger
        page.wait_for_function(
            f"parseInt(document.getElementById('trend-entries-last').innerText.split(' ').pop().replace(/,/g, '')) == {before + 23}",
            timeout=60000)
        last_point = page.evaluate("(() => { const d = document.getElementById('trend-entries').querySelector('.js-plotly-plot')"
                                   " || document.getElementById('trend-entries'); const y = d.data[0].y; return y[y.length - 1]; })()")
        assert last_point == before + 23
    finally:
        page.close()


def test_the_wall_population_follows_a_landed_exit_at_once(server: str, street: dict, browser) -> None:  # noqa: ANN001
    """The KPI reads the population PostGIS keeps as events land: a resident's exit shows at the next
    refresh (no per-process cache), and the same exit redelivered (a bridge's outbox sending it again)
    changes nothing."""
    page = login_page(browser, server, street["users"]["street"], PASSWORD, "/wall")
    try:
        page.wait_for_selector("#kpi-population", timeout=150000)
        before = int(page.inner_text("#kpi-population").replace(",", ""))
        now = dt.datetime.now(dt.timezone.utc)
        with transaction() as s:
            ensure_event_partitions(s, (now - dt.timedelta(days=1)).date().isoformat(), (now + dt.timedelta(days=1)).date().isoformat())
            person, gate, compound = s.execute(text(
                "SELECT p.id, g.id, g.compound_id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id "
                "JOIN building b ON b.id = d.building_id JOIN grid gr ON gr.id = b.grid_id "
                "JOIN gate g ON g.compound_id = b.compound_id "
                "WHERE gr.code LIKE :street AND NOT EXISTS (SELECT 1 FROM presence_person pp WHERE pp.person_id = p.id AND pp.is_out) "
                "ORDER BY p.id LIMIT 1"), {"street": STREET[:9] + "%"}).one()
        exit_ = {"v": "1", "event_id": str(uuid7(int(now.timestamp() * 1000))), "ts": now.isoformat(), "gate_id": str(gate),
                 "compound_id": str(compound), "direction": "out", "method": "face", "result": "open",
                 "person_id": str(person), "reason": "ok"}
        with psycopg.connect(settings().database_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
            land(conn, [exit_])
        page.wait_for_function(
            f"parseInt(document.getElementById('kpi-population').innerText.replace(/,/g, '')) == {before - 1}", timeout=60000)
        with psycopg.connect(settings().database_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
            land(conn, [exit_])  # redelivered: the same event id
        beat = page.evaluate("window.gpLastBeat")
        page.wait_for_function(f"window.gpLastBeat >= {beat + 2}", timeout=60000)  # two refreshes after it
        assert int(page.inner_text("#kpi-population").replace(",", "")) == before - 1
    finally:
        page.close()
