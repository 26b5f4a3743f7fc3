"""一张图: the street's grids and buildings on one map (the full command dashboard is its own issue)."""
from __future__ import annotations

import dash
from dash import dcc, html

from dashboard.figures import places_figure
from dashboard.session import viewer_or_none
from geodata.db import transaction
from layers.places import buildings_geojson, grids_geojson

dash.register_page(__name__, path="/", name="一张图", title="GridPulse 一张图")


def layout(**_query: str) -> html.Div:
    viewer = viewer_or_none()
    if viewer is None:  # layout validation at start-up; real requests are guarded by dashboard/auth.py
        return html.Div()
    with transaction() as session:
        grids = grids_geojson(session, viewer)
        buildings = buildings_geojson(session, viewer)
    return html.Div(
        className="one-map",
        children=[
            html.Div(
                className="summary",
                children=[
                    html.Span(f"网格 {len(grids['features'])}", id="grid-count"),
                    html.Span(f"楼栋 {len(buildings['features'])}", id="building-count"),
                ],
            ),
            dcc.Graph(
                id="places-map", figure=places_figure(grids, buildings), style={"height": "calc(100vh - 110px)"},
                config={"displaylogo": False, "scrollZoom": True},
            ),
        ],
    )
