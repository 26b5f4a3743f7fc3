"""一张图: every layer of the viewer's jurisdiction on one deck.gl map, with toggles, legend and a
time slider that replays a day of gate flows hour by hour. Zoomed into a building (zoom ≥
``DWELLING_ZOOM``), the map shows its dwellings floor by floor (assets/deckmap.js, from
``/layers/dwellings/<id>.json``). Clicking a grid, a building or a dwelling opens it in the
drill-down (网格) page.

A city or district viewer (``layers.regions.aggregated_map``) gets the aggregated map instead
(``_common.city_map_spec``): districts and streets as choropleths with the flows between streets, and the
buildings of the view only once zoomed in. The slider replays gate flows, which that map does not draw: it
is hidden there. A click on a district or street opens it in the drill-down.
"""
from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, clientside_callback, dcc, html

from dashboard.components.deckmap import CITY_LEGEND, deck_map
from dashboard.live import flow_layers, population_by_grid, replay_day
from dashboard.pages._common import CITY_MAP_LAYERS, MAP_LAYERS, city_map_spec, page_viewer, street_map_spec
from dashboard.roles import ALL
from dashboard.session import current_viewer
from blockdata.db import transaction
from layers.common import layer_json
from layers.dwellings import dwellings_layer
from layers.regions import aggregated_map

dash.register_page(__name__, path="/", name="一张图", title="GridPulse 一张图", order=0, roles=ALL)

LIVE = 24  # the slider's last stop: the live last hour
DWELLING_ZOOM = 17.5  # from here on, the building at the view's centre shows its dwellings floor by floor
ONE_MAP_LAYERS = MAP_LAYERS[:3] + ["dwellings"] + MAP_LAYERS[3:]  # grids, compounds, buildings, dwellings …


def layout(**_query: str) -> html.Div:
    viewer, refused = page_viewer()
    if refused is not None:
        return refused
    with transaction() as session:
        aggregated = aggregated_map(session, viewer)
        if aggregated:
            spec = city_map_spec(session, viewer)
            grid_count = spec["grid_count"]
        else:
            spec = street_map_spec(session, viewer, flow_layers(session, viewer), population_by_grid(session, viewer))
            grid_count = len(spec["grid_codes"])
        day = replay_day(session)
    spec["zoomDwellings"] = {"minZoom": DWELLING_ZOOM, "layer": layer_json(dwellings_layer([]))}
    marks = {h: f"{h:02d}时" for h in range(0, 24, 3)} | {LIVE: "实时"}
    hidden = {"display": "none"} if aggregated else None
    counts = [html.Span(f"网格 {grid_count}", id="grid-count"), html.Span(f"楼栋 {spec['building_count']}", id="building-count")]
    if aggregated:
        counts = [html.Span(f"区 {spec['region_counts']['district']}", id="district-count"),
                  html.Span(f"街道 {spec['region_counts']['street']}", id="street-count")] + counts
    return html.Div(className="one-map", children=[
        html.Div(className="timebar", children=[
            *counts,
            html.Span(f"通行回放 {day:%Y-%m-%d}" if day else "通行回放（无数据）", style=hidden),
            dcc.Store(id="replay-day", data=str(day or "")),
            dcc.RadioItems(id="fill-by", value="people", inline=True, className="layer-toggles",
                           options=[{"label": "着色：人口", "value": "people"}, {"label": "着色：预警", "value": "alerts"}]),
            html.Button("▶ 播放", id="replay-play", n_clicks=0, style=hidden),
            html.Div(dcc.Slider(id="replay-hour", min=0, max=LIVE, step=1, value=LIVE, marks=marks, updatemode="mouseup"),
                     className="slider", style=hidden),
            dcc.Interval(id="replay-tick", interval=1500, disabled=True),
        ]),
        deck_map(spec, CITY_MAP_LAYERS + ["dwellings"] if aggregated else ONE_MAP_LAYERS,
                 legend_items=CITY_LEGEND if aggregated else None),
        dcc.Location(id="map-nav", refresh="callback-nav"),
    ])


@dash.callback(Output("map-patch", "data"), Input("replay-hour", "value"), State("replay-day", "data"),
               prevent_initial_call=True)
def replay(hour: int, day: str) -> dict[str, Any]:
    """Only the heatmap and gate layers change: the camera and the other layers stay as they are."""
    import datetime as dt
    viewer = current_viewer()
    with transaction() as session:
        if aggregated_map(session, viewer):  # no gate layer on the aggregated map
            raise dash.exceptions.PreventUpdate
        rows = flow_layers(session, viewer, None if hour == LIVE or not day else hour,
                           dt.date.fromisoformat(day) if day else None)
    return {"seq": f"h{hour}", "layers": rows}


@dash.callback(Output("map-patch", "data", allow_duplicate=True), Input("fill-by", "value"), prevent_initial_call=True)
def fill_by(value: str) -> dict[str, Any]:
    """Grids by real-time population or open alerts, buildings by residents per dwelling or open alerts:
    the same cached routes with another colouring; only these two layers are replaced."""
    with transaction() as session:
        aggregated = aggregated_map(session, current_viewer())
    if aggregated:  # the bbox-loaded buildings are re-asked with the colouring
        fill = "alerts" if value == "alerts" else "population"
        return {"seq": f"fill-{value}", "layers": {"districts": f"/layers/districts.json?fill={fill}",
                                                   "streets": f"/layers/streets.json?fill={fill}",
                                                   "buildings": {"bboxFill": "alerts" if value == "alerts" else "occupancy"}}}
    if value == "alerts":
        return {"seq": "fill-alerts", "layers": {"grids": "/layers/grids.json?fill=alerts",
                                                 "buildings": "/layers/buildings.json?fill=alerts"}}
    return {"seq": "fill-people", "layers": {"grids": "/layers/grids.json", "buildings": "/layers/buildings.json"}}


@dash.callback(Output("replay-tick", "disabled"), Output("replay-play", "children"), Input("replay-play", "n_clicks"),
               prevent_initial_call=True)
def play(n: int) -> tuple[bool, str]:
    playing = n % 2 == 1
    return (not playing, "⏸ 暂停" if playing else "▶ 播放")


@dash.callback(Output("replay-hour", "value"), Input("replay-tick", "n_intervals"), State("replay-hour", "value"),
               prevent_initial_call=True)
def step(_n: int, hour: int) -> int:
    return 0 if hour >= LIVE - 1 else hour + 1


# A click on a grid, building or dwelling opens it in the drill-down, without a round trip; the drill-down checks it.
clientside_callback(
    """function (click) {
        var nu = window.dash_clientside.no_update;
        if (!click) return nu;
        if (click.kind === 'grid' && click.code) return '/drill?place=grid:' + click.code;
        if (click.kind === 'building' && click.id) return '/drill?place=building:' + parseInt(click.id, 10);
        if (click.kind === 'dwelling' && click.id) return '/drill?place=dwelling:' + parseInt(click.id, 10);
        if ((click.kind === 'street' || click.kind === 'district') && /^[0-9]{12}$/.test(click.code || '')) return '/drill?place=region:' + click.code;
        return nu;
    }""",
    Output("map-nav", "href"), Input("map-click", "data"), prevent_initial_call=True,
)
