"""Plotly figures of the place layers. Offline: no tile server, the "white-bg" style needs no network."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from layers.places import bounds

NANJING_GULOU = (118.765, 32.064)


def places_figure(grids: dict[str, Any], buildings: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    if grids["features"]:
        fig.add_trace(
            go.Choroplethmap(
                geojson=grids, locations=[f["id"] for f in grids["features"]], featureidkey="id",
                z=[f["properties"]["buildings"] for f in grids["features"]], colorscale="Blues", marker_opacity=0.45,
                marker_line_width=1.5, marker_line_color="#1f3b73", colorbar_title="楼栋数",
                customdata=[[f["properties"]["name"], f["properties"]["community"]] for f in grids["features"]],
                hovertemplate="%{customdata[1]} · %{customdata[0]}<br>网格 %{location}<br>楼栋 %{z}<extra></extra>",
                name="网格",
            )
        )
    if buildings["features"]:
        fig.add_trace(
            go.Choroplethmap(
                geojson=buildings, locations=[f["id"] for f in buildings["features"]], featureidkey="id",
                z=[f["properties"]["floors"] for f in buildings["features"]], colorscale="Oranges", showscale=False,
                marker_opacity=0.9, marker_line_width=0.5,
                customdata=[[f["properties"]["name"], f["properties"]["compound"] or "", f["properties"]["dwellings"]] for f in buildings["features"]],
                hovertemplate="%{customdata[1]} %{customdata[0]}<br>%{z} 层 · %{customdata[2]} 户<extra></extra>",
                name="楼栋",
            )
        )
    box = bounds(grids) or bounds(buildings)
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2) if box else NANJING_GULOU
    fig.update_layout(
        map={"style": "white-bg", "center": {"lon": centre[0], "lat": centre[1]}, "zoom": 14},
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="#0b1e3a",
        font={"color": "#e6eefc"},
    )
    return fig
