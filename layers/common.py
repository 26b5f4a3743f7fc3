"""What every layer builder shares: colour ramps, Chinese labels, and the pydeck → JSON step.

Builders return plain ``pdk.Layer`` objects (a query in, a layer spec out, no Dash), so they can
be unit-tested without a browser. pydeck reads every string keyword as a JavaScript accessor
(``"@@=..."``); a literal string must be wrapped in ``pdk.types.String`` or deck.gl receives an
expression instead of a value. Data rows are flat dicts with precomputed ``color`` and ``tip``
fields so the accessors stay trivial (``@@=color``) and the browser runs no logic per object.
"""
from __future__ import annotations

import json
from typing import Any

import pydeck as pdk

Color = list[int]

SEVERITY_COLORS: dict[str, Color] = {
    "low": [255, 214, 102, 230], "medium": [255, 153, 51, 235],
    "high": [235, 64, 52, 245], "critical": [190, 20, 120, 255],
}

# Blue (few) → amber → red (many): readable on the dark wall-screen background.
_RAMP: list[tuple[float, Color]] = [(0.0, [37, 99, 160]), (0.5, [250, 190, 60]), (1.0, [230, 60, 50])]


def ramp(value: float, top: float, alpha: int = 170) -> Color:
    """A colour for ``value`` on a 0..``top`` scale (top ≤ 0 → the low end)."""
    t = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    for (t0, c0), (t1, c1) in zip(_RAMP, _RAMP[1:]):
        if t <= t1:
            f = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
            return [round(a + (b - a) * f) for a, b in zip(c0, c1)] + [alpha]
    return _RAMP[-1][1] + [alpha]


def literal(value: str) -> pdk.types.String:
    """A string deck.gl must receive as a value, not as an accessor expression."""
    return pdk.types.String(value)


def layer_json(layer: pdk.Layer) -> dict[str, Any]:
    """One layer as the JSON dict @deck.gl/json converts (what a live update replaces)."""
    deck = pdk.Deck(layers=[layer], map_provider=None, map_style=None)
    return json.loads(deck.to_json())["layers"][0]


def deck_spec(layers: list[pdk.Layer], view: pdk.ViewState, *, basemap_url: str = "") -> dict[str, Any]:
    """The whole map as the JSON dict the clientside renderer reads (views, camera, layers, base map)."""
    deck = pdk.Deck(layers=layers, initial_view_state=view, map_provider=None, map_style=None)
    spec = json.loads(deck.to_json())
    spec["basemap"] = basemap_url  # drawn by a TileLayer in assets/deckmap.js when set
    return spec


def view_for(box: tuple[float, float, float, float] | None, *, pitch: float = 45, zoom: float | None = None) -> pdk.ViewState:
    """A camera over a (min lon, min lat, max lon, max lat) box; Nanjing Gulou when there is nothing."""
    if box is None:
        return pdk.ViewState(longitude=118.765, latitude=32.064, zoom=14, pitch=pitch, bearing=0)
    lon, lat = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if zoom is None:
        span = max(box[2] - box[0], (box[3] - box[1]) * 1.2, 1e-4)
        import math
        zoom = max(3.0, min(19.0, math.log2(360 / span) + 1.0))
    return pdk.ViewState(longitude=lon, latitude=lat, zoom=zoom, pitch=pitch, bearing=0)


def outline_rows(rows: list[dict[str, Any]], *, color_key: str | None = None, color: Color | None = None,
                 key: str = "polygon") -> list[dict[str, Any]]:
    """The polygons' rings as line segments (``source`` → ``target``), for an outline layer.

    A ``PolygonLayer``'s own stroke is a ``PathLayer``, whose shaders cost about 0.8 s to compile and
    first draw on a software GPU (SwiftShader; docs/BENCHMARKS.md); a ``LineLayer`` over the rings'
    edges draws the same pixel-wide outlines for a fraction of that.
    """
    out = []
    for row in rows:
        line = row[color_key] if color_key else color
        for ring in row[key]:
            for a, b in zip(ring, ring[1:]):
                out.append({"source": a, "target": b, "color": line})
    return out


def outline_layer(layer_id: str, data: list[dict[str, Any]] | str, *, width_px: float) -> pdk.Layer:
    """Pixel-wide outlines from :func:`outline_rows` (a list, or the URL of a cached route serving it).
    Its id ends in ``_outline``: the map's layer toggles show and hide it with the layer it outlines."""
    return pdk.Layer(
        "LineLayer", data=data, id=f"{layer_id}_outline", get_source_position="source", get_target_position="target",
        get_color="color", get_width=width_px, width_units=literal("pixels"), width_min_pixels=width_px, pickable=False,
    )


def polygon_box(rows: list[dict[str, Any]], key: str = "polygon") -> tuple[float, float, float, float] | None:
    xs: list[float] = []
    ys: list[float] = []
    for row in rows:
        for ring in row[key]:
            for point in ring:
                xs.append(point[0])
                ys.append(point[1])
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None
