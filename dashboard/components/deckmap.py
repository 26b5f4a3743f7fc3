"""The deck.gl map as Dash components: a container div and the stores the clientside renderer reads.

- ``map-spec``: the whole map (pydeck's JSON: camera, layers, base map); replaced when the place changes.
- ``map-patch``: ``{"seq": n, "layers": {id: rows}}``, only the layers a live update changed.
- ``map-click``: what was clicked (written by the browser with ``dash_clientside.set_props``).
- ``layer-toggles``: the ids of the layers shown.
The renderer itself is ``assets/deckmap.js``; one map per page, so the ids are fixed.
"""
from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Input, Output, State, clientside_callback, dcc, html

CONTAINER = "deck-map"
CONFIG = {"container": CONTAINER, "click": "map-click"}

LAYER_LABELS = {
    "grids": "网格", "compounds": "小区", "buildings": "楼栋（三维）", "dwellings": "房屋（分层）", "key_sites": "重点场所",
    "heatmap": "通行热力", "gate_arrows": "进出箭头", "gates": "闸机", "alerts": "预警",
    "incidents": "事件上报", "trajectory": "轨迹", "passages": "通行点", "trajectory_head": "当前位置",
    "copresent_gates": "同行闸机", "footholds": "落脚点", "incident_pick": "上报位置",
    "districts": "区", "streets": "街道", "flows": "跨街道流动",
}
LEGEND = [
    ("#2563a0", "低"), ("#fabe3c", "中"), ("#e63c32", "高 —— 网格：实时人口；楼栋：户均人数"),
    ("#ffd666", "预警·低"), ("#ff9933", "预警·中"), ("#eb4034", "预警·高"), ("#be1478", "预警·紧急"),
    ("#50dc8c", "闸机：进多于出 / 进入箭头"), ("#ffaa3c", "闸机：出多于进 / 离开箭头"), ("#be78ff", "重点场所"),
    ("#ffd75a", "小区（轮廓与名称）"),
]
# The aggregated map of a city or district viewer (dashboard/pages/_common.city_map_spec).
CITY_LEGEND = [
    ("#2563a0", "低"), ("#fabe3c", "中"), ("#e63c32", "高 —— 区、街道：实时人口（或未结预警）；楼栋：户均人数"),
    ("#78e6ff", "跨街道流动：居住地 → 进入的闸机所在街道（近1小时，3人以上）"), ("#ffffff", "区界"), ("#96c8ff", "街道界"),
]


def deck_map(spec: dict[str, Any] | None, layer_ids: list[str], *, visible: list[str] | None = None,
             height: str = "calc(100vh - 160px)", show_toggles: bool = True, legend: bool = True,
             prefetch: str | None = None, warm_pick: bool = True, wall: bool = False,
             pick_point: str | None = None, legend_items: list[tuple[str, str]] | None = None) -> html.Div:
    """``prefetch``: a URL the browser posts ``{"search": "?place=kind:id"}`` to when the pointer goes down on a
    grid or building (dashboard/prefetch.py), so the level's server work starts before the click.
    ``warm_pick``: pick once after the first place is drawn, so the first hover or click does not build the
    picking pipelines (False for a map nobody clicks: the wall screen). ``wall``: fit the spec's ``fitBounds``
    to the container and scale pixel-sized symbols with the screen (assets/deckmap.js). ``pick_point``: the id of a
    store that a tap on the map fills with ``{"lon", "lat", "source": "map"}`` (a place picker; objects are not
    clicked then)."""
    toggles = dcc.Checklist(
        id="layer-toggles", options=[{"label": LAYER_LABELS.get(i, i), "value": i} for i in layer_ids],
        value=visible if visible is not None else list(layer_ids), inline=True, className="layer-toggles",
        style=None if show_toggles else {"display": "none"},
    )
    parts: list[Any] = [
        toggles,
        html.Div(id=CONTAINER, className="deck-map", style={"height": height}),
        dcc.Store(id="map-spec", data=spec), dcc.Store(id="map-patch"), dcc.Store(id="map-click"),
        dcc.Store(id="map-rendered"), dcc.Store(id="map-cfg", data=CONFIG | {"warmPick": warm_pick, "wall": wall} | ({"prefetch": prefetch} if prefetch else {})
                  | ({"pickPoint": pick_point} if pick_point else {})),
    ]
    if legend:
        parts.append(html.Div(className="legend", children=[
            html.Span([html.I(style={"background": colour}), label]) for colour, label in (legend_items or LEGEND)
        ]))
    return html.Div(className="deck-wrap", children=parts)


clientside_callback(
    ClientsideFunction(namespace="gp", function_name="render"),
    Output("map-rendered", "data"),
    Input("map-spec", "data"), Input("map-patch", "data"), Input("layer-toggles", "value"), State("map-cfg", "data"),
)
