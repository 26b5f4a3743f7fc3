"""指挥中心: the command centre's wall screen (1080p and 4K), readable across a room, no interaction.

KPIs with their last 24 hours as sparklines (population, in and out per hour, open alerts:
dashboard/trends.py), the map and an alert ticker refresh themselves every GRIDPULSE_MAP_REFRESH_S
seconds (≤ 10): one callback returns the KPIs, the trends, the ticker and only the live layers' rows
(heatmap, gates, alerts), so the camera never moves. The page fills its screen: the map takes what the
KPIs and the ticker leave, its camera fits the jurisdiction to that size (assets/deckmap.js, ``wall``),
and text and symbols scale with the screen's width (assets/gridpulse.css), so a 4K wall reads like a
1080p one. After a server restart the page's watchdog (assets/deckmap.js) sees the
heartbeat stop, waits for the server to answer again and reloads itself; the session, kept in Redis,
survives the restart (wall-screen accounts: GRIDPULSE_WALL_SESSION_HOURS idle, and an absolute end).
A city or district command centre (``layers.regions.aggregated_map``) sees the aggregated map
(``_common.city_map_spec``); each refresh re-reads the districts' and streets' choropleths (the cached
routes, at most every ``LAYER_TTL_S``) instead of every gate of the city.
"""
from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, clientside_callback, dcc, html

from core.config import settings
from dashboard.components.deckmap import deck_map
from dashboard.live import flow_layers, kpis, population_by_grid, ticker
from dashboard.pages._common import CITY_MAP_LAYERS, city_map_spec, page_viewer, street_map_spec
from dashboard.vendor import LAYER_TTL_S
from dashboard.roles import WALL
from dashboard.session import current_viewer
from dashboard.stats_charts import sparkline
from dashboard.trends import Trends, wall_trends
from blockdata.db import transaction
from layers.alerts import alert_rows
from layers.regions import aggregated_map

dash.register_page(__name__, path="/wall", name="指挥中心", title="GridPulse 指挥中心", order=1, roles=WALL)

WALL_LAYERS = ["grids", "buildings", "key_sites", "heatmap", "gate_arrows", "gates", "alerts"]
KPI_LABELS = [("population", "实时人口"), ("entries_hour", "近1小时进"), ("exits_hour", "近1小时出"),
              ("open_alerts", "未结预警"), ("overdue_orders", "超期工单")]
# The KPI each trend sits under: (trend id, series of Trends, colour, what its last point is)
TRENDS = {"population": ("population", "population", "#5b9bff", "当前"), "entries_hour": ("entries", "entries", "#50dc8c", "本小时"),
          "exits_hour": ("exits", "exits", "#ffaa3c", "本小时"), "open_alerts": ("alerts", "open_alerts", "#eb4034", "当前")}
TREND_EVERY = 3
SPARK_CONFIG = {"staticPlot": True, "displayModeBar": False, "responsive": True}
SPARK_HEIGHT = "clamp(40px, 4.2vh, 120px)"  # inline: a responsive dcc.Graph sets its own height otherwise


def layout(**_query: str) -> html.Div:
    viewer, refused = page_viewer()
    if refused is not None:
        return refused
    with transaction() as session:
        aggregated = aggregated_map(session, viewer)
        if aggregated:
            spec = city_map_spec(session, viewer)
        else:
            spec = street_map_spec(session, viewer, flow_layers(session, viewer), population_by_grid(session, viewer))
        now = kpis(session, viewer)
        trends = wall_trends(session, viewer, now.population)
        lines = ticker(session, viewer)
    return html.Div(className="wall", children=[
        html.Div(className="kpis", children=[_kpi(key, label, getattr(now, key), trends) for key, label in KPI_LABELS]),
        html.Div(className="wall-map", children=deck_map(spec, CITY_MAP_LAYERS if aggregated else WALL_LAYERS, height="100%", show_toggles=False,
                                                         warm_pick=False, wall=True)),
        html.Div(className="ticker", children=html.Div(id="ticker", className="ticker-track", children=_ticker(lines))),
        dcc.Interval(id="wall-tick", interval=settings().map_refresh_s * 1000),
        dcc.Store(id="wall-beat"), dcc.Store(id="wall-beat-seen"),
    ])


def _city_patch() -> dict[str, str]:
    """The aggregated map's choropleths by URL, a new one each LAYER_TTL_S (the routes recompute no sooner)."""
    import time
    bucket = int(time.time() // LAYER_TTL_S)
    return {name: f"/layers/{name}.json?at={bucket}" for name in ("districts", "streets")}


def _kpi(key: str, label: str, value: int, trends: Trends) -> html.Div:
    children: list[Any] = [html.Div(label, className="label"), html.Div(f"{value:,}", id=f"kpi-{key}", className="value")]
    if key in TRENDS:
        trend_id = TRENDS[key][0]
        figure, caption = _trend(key, trends)
        children += [dcc.Graph(id=f"trend-{trend_id}", figure=figure, config=SPARK_CONFIG, className="spark",
                               style={"height": SPARK_HEIGHT}),
                     html.Div(caption, id=f"trend-{trend_id}-last", className="spark-caption")]
    return html.Div(className="kpi", children=children)


def _trend(key: str, trends: Trends) -> tuple[Any, str]:
    trend_id, series, colour, last_label = TRENDS[key]
    ys = getattr(trends, series)
    return sparkline(trends.hours, ys, colour, trend_id), f"近24小时 · {last_label} {ys[-1]:,}"


def _ticker(lines: list[str]) -> list[html.Span]:
    return [html.Span(line, className="tick") for line in lines] or [html.Span("暂无未结预警", className="tick")]


@dash.callback(
    [Output(f"kpi-{key}", "children") for key, _ in KPI_LABELS]
    + [Output(f"trend-{t[0]}", "figure") for t in TRENDS.values()]
    + [Output(f"trend-{t[0]}-last", "children") for t in TRENDS.values()]
    + [Output("ticker", "children"), Output("map-patch", "data"), Output("wall-beat", "data")],
    Input("wall-tick", "n_intervals"),
    prevent_initial_call=True,
)
def refresh(n: int) -> list[Any]:
    viewer = current_viewer()
    with transaction() as session:
        now = kpis(session, viewer)
        trends = wall_trends(session, viewer, now.population) if n % TREND_EVERY == 0 else None
        layers = _city_patch() if aggregated_map(session, viewer) else flow_layers(session, viewer) | {"alerts": alert_rows(session, viewer)}
        lines = ticker(session, viewer)
    if trends is None:  # hourly figures: redrawn every TREND_EVERY refreshes, the KPIs and the map every one
        unchanged = [dash.no_update] * (2 * len(TRENDS))
    else:
        drawn = [_trend(key, trends) for key in TRENDS]
        unchanged = [f for f, _ in drawn] + [c for _, c in drawn]
    return ([f"{getattr(now, key):,}" for key, _ in KPI_LABELS] + unchanged + [_ticker(lines), {"seq": n, "layers": layers}, n])


clientside_callback(ClientsideFunction(namespace="gp", function_name="heartbeat"),
                    Output("wall-beat-seen", "data"), Input("wall-beat", "data"))
