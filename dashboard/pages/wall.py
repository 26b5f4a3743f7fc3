"""指挥中心: the command centre's wall screen (1080p and 4K), readable across a room, no interaction.

KPIs, the map and an alert ticker refresh themselves every GRIDPULSE_MAP_REFRESH_S seconds (≤ 10):
one callback returns the KPIs, the ticker and only the live layers' rows (heatmap, gates, alerts),
so the camera never moves. After a server restart the page's watchdog (assets/deckmap.js) sees the
heartbeat stop, waits for the server to answer again and reloads itself; the session, kept in Redis,
survives the restart (wall-screen accounts: GRIDPULSE_WALL_SESSION_HOURS idle, and an absolute end).
"""
from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, clientside_callback, dcc, html

from core.config import settings
from dashboard.components.deckmap import deck_map
from dashboard.live import flow_layers, kpis, population_by_grid, ticker
from dashboard.pages._common import page_viewer, street_map_spec
from dashboard.roles import WALL
from dashboard.session import current_viewer
from blockdata.db import transaction
from layers.alerts import alert_rows

dash.register_page(__name__, path="/wall", name="指挥中心", title="GridPulse 指挥中心", order=1, roles=WALL)

WALL_LAYERS = ["grids", "buildings", "key_sites", "heatmap", "gate_arrows", "gates", "alerts"]
KPI_LABELS = [("population", "实时人口"), ("entries_hour", "近1小时进"), ("exits_hour", "近1小时出"),
              ("open_alerts", "未结预警"), ("overdue_orders", "超期工单")]


def layout(**_query: str) -> html.Div:
    viewer, refused = page_viewer()
    if refused is not None:
        return refused
    with transaction() as session:
        spec = street_map_spec(session, viewer, flow_layers(session, viewer), population_by_grid(session))
        now = kpis(session, viewer)
        lines = ticker(session, viewer)
    return html.Div(className="wall", children=[
        html.Div(className="kpis", children=[
            html.Div(className="kpi", children=[html.Div(label, className="label"),
                                                html.Div(f"{getattr(now, key):,}", id=f"kpi-{key}", className="value")])
            for key, label in KPI_LABELS
        ]),
        deck_map(spec, WALL_LAYERS, height="calc(100vh - 250px)", show_toggles=False, warm_pick=False),
        html.Div(className="ticker", children=html.Div(id="ticker", className="ticker-track", children=_ticker(lines))),
        dcc.Interval(id="wall-tick", interval=settings().map_refresh_s * 1000),
        dcc.Store(id="wall-beat"), dcc.Store(id="wall-beat-seen"),
    ])


def _ticker(lines: list[str]) -> list[html.Span]:
    return [html.Span(line, className="tick") for line in lines] or [html.Span("暂无未结预警", className="tick")]


@dash.callback(
    [Output(f"kpi-{key}", "children") for key, _ in KPI_LABELS]
    + [Output("ticker", "children"), Output("map-patch", "data"), Output("wall-beat", "data")],
    Input("wall-tick", "n_intervals"),
    prevent_initial_call=True,
)
def refresh(n: int) -> list[Any]:
    viewer = current_viewer()
    with transaction() as session:
        now = kpis(session, viewer)
        layers = flow_layers(session, viewer) | {"alerts": alert_rows(session, viewer)}
        lines = ticker(session, viewer)
    return [f"{getattr(now, key):,}" for key, _ in KPI_LABELS] + [_ticker(lines), {"seq": n, "layers": layers}, n]


clientside_callback(ClientsideFunction(namespace="gp", function_name="heartbeat"),
                    Output("wall-beat-seen", "data"), Input("wall-beat", "data"))
