"""Dashboard benchmark in headless Chromium (Playwright + Debian's chromium, WebGL on SwiftShader):

- first map render: navigation to the wall screen → every deck.gl layer loaded and drawn
  (``gpFirstLoadMs``, measured by the page itself from navigation start: the frame is issued), when
  the browser had finished that frame (two animation frames later: on software WebGL the GPU process
  executes it after that), and when the deck was created with its spec (``gpDeckCreatedMs``);
- heatmap refresh: the one-map page's replay callback (heatmap + gate layers of one hour from the
  rollups) and the live one, over HTTP on loopback: time and payload bytes;
- drill-down: a click on a building of the grid view → the building's floors listed and its
  dwellings drawn;
- the one map's first render for a street, a district and a city viewer (issue 21: a map for a city): the
  seeded street is copied twice (tests/city_fixture.py: a second street of its district, and a street of
  another district), so the district viewer (鼓楼区) sees two streets and the city viewer three in two
  districts, on the aggregated map (districts and streets, no building); and the buildings of a zoomed-in
  view from ``/layers/buildings/bbox.json`` over HTTP (the first, uncached answer, and the cached one).
Beside them, the machine's own floor measured in the same run: a Dash callback that touches no
database (the replay's play button) and a page without a map (工单), so the ratios say what the map
costs above what any callback or page costs here.

Uses its own database (gridpulse_bench_dash) and Redis prefix (gpbench:). `--quick` seeds `tiny`,
otherwise `street` with 30 days of events. Prints lines, then one JSON object on the last line.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_dash")
os.environ.setdefault("GRIDPULSE_REDIS_PREFIX", "gpbench:")
os.environ.setdefault("GRIDPULSE_KEY_FILE", str(ROOT / "var" / "bench-secrets.json"))

import requests  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from analytics.sweep import run_rules  # noqa: E402
from bench.common import fresh_database  # noqa: E402
from core.config import settings  # noqa: E402
from core.passwords import hash_password  # noqa: E402
from blockdata.db import transaction  # noqa: E402
from blockdata.models import Account  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402
from tests.browser import app_server, http_login, login_page, playwright_chromium  # noqa: E402
from tests.city_fixture import extend_to_small_city  # noqa: E402

PASSWORD = "bench-pass-1234"
SCOPE_VIEWERS = {"street": "street", "district": "gulou-cc", "city": "city-cc"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def callback(http: requests.Session, url: str, body: dict) -> tuple[float, int]:
    start = time.perf_counter()
    answer = http.post(url + "/_dash-update-component", json=body, timeout=60)
    elapsed = (time.perf_counter() - start) * 1000
    answer.raise_for_status()
    return elapsed, len(answer.content)


def replay_body(hour: int, day: str) -> dict:
    return {"output": "map-patch.data", "outputs": {"id": "map-patch", "property": "data"},
            "inputs": [{"id": "replay-hour", "property": "value", "value": hour}],
            "state": [{"id": "replay-day", "property": "data", "value": day}], "changedPropIds": ["replay-hour.value"]}


NOOP_BODY = {"output": "..replay-tick.disabled...replay-play.children..",
             "outputs": [{"id": "replay-tick", "property": "disabled"}, {"id": "replay-play", "property": "children"}],
             "inputs": [{"id": "replay-play", "property": "n_clicks", "value": 2}], "state": [],
             "changedPropIds": ["replay-play.n_clicks"]}

CLICK_TALLEST = """() => {
  const m = window.gpMaps['deck-map'];
  const layer = m.deck.props.layers.find(l => l.id === 'buildings');
  const row = layer.props.data.reduce((a, b) => (b.height > a.height ? b : a));
  const ring = row.polygon[0]; const n = ring.length - 1; let x = 0, y = 0;
  for (let i = 0; i < n; i++) { x += ring[i][0]; y += ring[i][1]; }
  const [px, py] = m.deck.getViewports()[0].project([x / n, y / n, row.height]);
  const box = m.el.getBoundingClientRect();
  return {x: box.left + px, y: box.top + py, id: row.id};
}"""


def drill_click_ms(page, url: str, grid: str, map_timeout_ms: int, click_timeout_ms: int) -> float:  # noqa: ANN001 - a playwright Page
    """One drill-down click timed as a person sees it: the grid's map drawn, a click on its tallest building,
    until the building's floors are listed and its map is drawn."""
    page.goto(f"{url}/drill?place=grid:{grid}")
    page.wait_for_selector("#deck-map[data-loaded='1']", timeout=map_timeout_ms, state="attached")
    target = page.evaluate(CLICK_TALLEST)
    page.evaluate("window.__t0 = performance.now()")
    page.mouse.click(target["x"], target["y"])
    page.wait_for_function("document.getElementById('drill-children')?.innerText.includes('层（') && "
                           "document.getElementById('deck-map').dataset.loaded === '1'", timeout=click_timeout_ms, polling=5)
    return page.evaluate("performance.now() - window.__t0")


SHOWN_LAYERS = """() => Object.fromEntries(window.gpMaps['deck-map'].deck.props.layers
  .filter(l => l.props.visible !== false).map(l => [l.id, Array.isArray(l.props.data) ? l.props.data.length : -1]))"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seed tiny (seconds) instead of street with 30 days")
    parser.add_argument("--runs", type=int, default=None, help="repetitions of each browser measurement")
    parser.add_argument("--keep", action="store_true", help="reuse the bench database if it holds a street")
    args = parser.parse_args()
    preset, days = ("tiny", 14) if args.quick else ("street", 30)
    runs = args.runs or (3 if args.quick else 5)
    cfg = settings()

    t0 = time.perf_counter()
    if not args.keep:
        fresh_database(cfg.database_url)
        run_seed(preset=preset, seed=7, days=days, reset=True)
    with transaction() as s:
        extended = s.execute(text("SELECT count(*) FROM account WHERE username = 'city-cc'")).scalar_one() > 0
    if not extended:
        extend_to_small_city()
    with transaction() as s:
        run_rules(s, dt.datetime.now(dt.timezone.utc))
        for account in s.scalars(select(Account).where(Account.username.in_(["street", "admin"] + list(SCOPE_VIEWERS.values())))):
            account.password_hash = hash_password(PASSWORD)
        grid = s.execute(text("""SELECT g.code FROM building b JOIN grid g ON g.id = b.grid_id
                                 GROUP BY g.code ORDER BY count(*) DESC LIMIT 1""")).scalar_one()
        counts = s.execute(text("SELECT (SELECT count(*) FROM building), (SELECT count(*) FROM access_event)")).one()
    print(f"{preset}: {counts[0]} buildings, {counts[1]:,} events; set-up {time.perf_counter() - t0:.1f} s")

    with app_server({"GRIDPULSE_DATABASE_URL": cfg.database_url}) as url, playwright_chromium() as browser:
        page = login_page(browser, url, "street", PASSWORD, "/orders")
        page.wait_for_selector("#orders-title", timeout=60000)
        first_render, first_drawn, deck_created, page_floor = [], [], [], []
        for i in range(runs + 1):  # the first run warms the server's caches and the browser's bundle cache
            page.goto(url + "/wall")
            page.wait_for_selector("#deck-map[data-loaded='1']", timeout=120000, state="attached")
            # The frame is issued at gpFirstLoadMs; the GPU (SwiftShader) executes it after that. Two animation
            # frames later the browser has finished it (it does not start a frame while the last is pending).
            drawn = page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))")
            if i:
                first_render.append(page.evaluate("window.gpFirstLoadMs"))
                first_drawn.append(drawn)
                deck_created.append(page.evaluate("window.gpDeckCreatedMs"))
            page.goto(url + "/orders")
            page.wait_for_selector("#orders-title", timeout=60000)
            if i:
                page_floor.append(page.evaluate("performance.now()"))
        outside = page.requests.outside(url)

        http = http_login(url, "street", PASSWORD)  # the login form's CSRF token, as a browser sends it
        with transaction() as s:
            latest = s.execute(text("SELECT max(minute) FROM gate_flow_minute")).scalar()
        day = (latest.astimezone(dt.timezone(dt.timedelta(hours=8))).date() - dt.timedelta(days=1)).isoformat()
        callback(http, url, replay_body(8, day))
        n_calls = 10 if args.quick else 30
        replay = [callback(http, url, replay_body(h % 24, day)) for h in range(n_calls)]
        live = [callback(http, url, replay_body(24, day)) for _ in range(n_calls)]
        floor = [callback(http, url, NOOP_BODY)[0] for _ in range(n_calls)]

        drill = []
        for _ in range(runs):
            drill.append(drill_click_ms(page, url, grid, 120000, 60000))
        outside += page.requests.outside(url)
        page.close()

        # The one map's first render per viewer scope, each on a fresh page of its own login; the page without a
        # map (工单) in the same session as the floor.
        by_scope: dict[str, dict[str, float]] = {}
        for scope, username in SCOPE_VIEWERS.items():
            page = login_page(browser, url, username, PASSWORD, "/orders")
            page.wait_for_selector("#orders-title", timeout=60000)
            renders, floors, layers_seen = [], [], None
            for i in range(runs + 1):
                page.goto(url + "/")
                page.wait_for_selector("#deck-map[data-loaded='1']", timeout=120000, state="attached")
                if i:
                    renders.append(page.evaluate("window.gpFirstLoadMs"))
                layers_seen = page.evaluate(SHOWN_LAYERS)
                page.goto(url + "/orders")
                page.wait_for_selector("#orders-title", timeout=60000)
                if i:
                    floors.append(page.evaluate("performance.now()"))
            outside += page.requests.outside(url)
            page.close()
            by_scope[scope] = {"first_render_ms_p50": round(statistics.median(renders)), "first_render_ms_max": round(max(renders)),
                               "page_without_map_ms_p50": round(statistics.median(floors)),
                               "building_rows": layers_seen.get("buildings", 0), "layers": layers_seen}
            by_scope[scope]["ratio_to_page_without_map"] = round(
                by_scope[scope]["first_render_ms_p50"] / max(by_scope[scope]["page_without_map_ms_p50"], 1), 2)

        city_http = http_login(url, "city-cc", PASSWORD)
        with transaction() as s:
            lon, lat = s.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) AS c FROM region WHERE code = '320106001000') x")).one()
        bbox_cold, bbox_warm, bbox_rows = [], [], 0
        for k in range(n_calls):  # a new view each time (uncached), then the same one again (cached)
            box = f"{lon - 0.01 + k * 0.0005:.4f},{lat - 0.006:.4f},{lon + 0.01 + k * 0.0005:.4f},{lat + 0.006:.4f}"
            for times in (bbox_cold, bbox_warm):
                start = time.perf_counter()
                answer = city_http.get(url + "/layers/buildings/bbox.json", params={"bbox": box}, timeout=60)
                times.append((time.perf_counter() - start) * 1000)
                answer.raise_for_status()
            bbox_rows = max(bbox_rows, len(answer.json()["rows"]))

    result = {
        "bench": "dashboard", "preset": preset, "days": days, "buildings": counts[0], "events": counts[1], "runs": runs,
        "first_render_ms_p50": round(statistics.median(first_render)), "first_render_ms_max": round(max(first_render)),
        "first_render_drawn_ms_p50": round(statistics.median(first_drawn)), "first_render_drawn_ms_max": round(max(first_drawn)),
        "deck_created_ms_p50": round(statistics.median(deck_created)),
        "page_without_map_ms_p50": round(statistics.median(page_floor)),
        "heatmap_replay_ms_p50": round(statistics.median(t for t, _ in replay), 1),
        "heatmap_replay_ms_p95": round(pct([t for t, _ in replay], 0.95), 1),
        "heatmap_replay_bytes": max(b for _, b in replay),
        "heatmap_live_ms_p50": round(statistics.median(t for t, _ in live), 1), "heatmap_live_bytes": max(b for _, b in live),
        "noop_callback_ms_p50": round(statistics.median(floor), 1),
        "drill_click_ms_p50": round(statistics.median(drill)), "drill_click_ms_max": round(max(drill)),
        "requests_outside_loopback": len(outside),
    }
    result["ratio_heatmap_to_noop_callback"] = round(result["heatmap_replay_ms_p50"] / max(result["noop_callback_ms_p50"], 0.1), 2)
    result["ratio_first_render_to_page_without_map"] = round(result["first_render_ms_p50"] / max(result["page_without_map_ms_p50"], 1), 2)
    result["one_map_by_scope"] = by_scope
    result["bbox_route_ms_p50"] = round(statistics.median(bbox_cold), 1)
    result["bbox_route_cached_ms_p50"] = round(statistics.median(bbox_warm), 1)
    result["bbox_route_rows"] = bbox_rows
    result["ratio_bbox_route_to_noop_callback"] = round(result["bbox_route_ms_p50"] / max(result["noop_callback_ms_p50"], 0.1), 2)
    result["ratio_city_to_street_first_render"] = round(by_scope["city"]["first_render_ms_p50"] / max(by_scope["street"]["first_render_ms_p50"], 1), 2)
    result["goals"] = {"first_render_ms": 2000, "heatmap_refresh_server_ms": 150, "drill_click_ms": 400,
                       "city_viewer_first_render_ms": 2000}
    print(f"first map render p50 {result['first_render_ms_p50']} ms, drawn by the GPU {result['first_render_drawn_ms_p50']} ms "
          f"(page without map {result['page_without_map_ms_p50']} ms)")
    print(f"heatmap replay p50 {result['heatmap_replay_ms_p50']} ms, {result['heatmap_replay_bytes']} B; "
          f"live p50 {result['heatmap_live_ms_p50']} ms; no-op callback p50 {result['noop_callback_ms_p50']} ms")
    print(f"drill-down click p50 {result['drill_click_ms_p50']} ms; requests outside loopback: {len(outside)}")
    for scope, figures in by_scope.items():
        print(f"one map, {scope} viewer: first render p50 {figures['first_render_ms_p50']} ms (max {figures['first_render_ms_max']}), "
              f"{figures['building_rows']} building rows; page without map {figures['page_without_map_ms_p50']} ms "
              f"(ratio {figures['ratio_to_page_without_map']})")
    print(f"buildings by viewport: {result['bbox_route_ms_p50']} ms p50 uncached, {result['bbox_route_cached_ms_p50']} ms cached, "
          f"{bbox_rows} rows (no-op callback {result['noop_callback_ms_p50']} ms)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
