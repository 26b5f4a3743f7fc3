"""A place picker on the phone: a small flat map of the viewer's grids on which a tap sets a point.

Used by 事件上报 (dashboard/pages/work_orders.py): the worker opens it, taps where the incident is, sees a
marker there and taps again to move it. The map is the deck.gl component (one per page: the orders page has
no other map) with ``pick_point`` set, so a tap writes ``{"lon", "lat", "source": "map"}`` into the page's
store (assets/deckmap.js); the marker is one more layer, ``incident_pick``, whose rows a live patch replaces.
Its spec is built only when the picker is opened: a worker who locates by phone or types an address loads
no map over a weak connection. Whether the point lies in the worker's grids is decided on the server, when
the point is set (to say so at once) and again when the incident is submitted (what counts).
"""
from __future__ import annotations

import math
from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from blockdata.models import SRID
from core.config import settings
from core.viewer import Viewer
from dashboard.components.deckmap import deck_map
from layers.buildings import buildings_layer
from layers.common import deck_spec, literal, view_for
from layers.grids import grid_outlines_layer, grids_layer

MARKER_ID = "incident_pick"
MARKER_COLOR = [255, 0, 170, 255]  # magenta: apart from the grids' blue→amber→red and the buildings
PICKER_LAYERS = ["grids", "buildings", MARKER_ID]
PHONE_MAP_PX = (358, 300)  # the map's size in the incident panel on a 390 px phone

_BOX = text(
    """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
       FROM (SELECT ST_Extent(g.geom) AS e FROM grid g WHERE g.code LIKE ANY(:p)) x"""
)
_GRID_AT = text(
    """SELECT g.code, g.name, r.name AS community FROM grid g JOIN region r ON r.code = g.community_code
       WHERE ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), :srid)) ORDER BY g.code LIMIT 1"""
)


def marker_rows(lon: float, lat: float) -> list[dict[str, Any]]:
    return [{"kind": MARKER_ID, "position": [lon, lat], "tip": "上报位置"}]


def marker_layer(rows: list[dict[str, Any]]) -> pdk.Layer:
    """The picked point: a ring that stays on top of the grids and buildings (not pickable: a tap on it moves it)."""
    return pdk.Layer(
        "ScatterplotLayer", data=rows, id=MARKER_ID, get_position="position", get_radius=11, get_fill_color=MARKER_COLOR,
        get_line_color=[255, 255, 255, 255], radius_units=literal("pixels"), stroked=True, line_width_min_pixels=3,
        pickable=False, parameters={"depthCompare": literal("always")},
    )


def picker_spec(session: Session, viewer: Viewer, point: tuple[float, float] | None = None) -> dict[str, Any]:
    """The viewer's grids and buildings from the cached routes, seen from straight above, and the marker."""
    box = session.execute(_BOX, {"p": viewer.like_patterns}).one()
    box = tuple(box) if box[0] is not None else None
    layers = [grids_layer("/layers/grids.json"), grid_outlines_layer("/layers/grid_outlines.json"),
              buildings_layer("/layers/buildings.json"), marker_layer(marker_rows(*point) if point else [])]
    spec = deck_spec(layers, view_for(box, pitch=0, zoom=phone_zoom(box) if box else None),
                     basemap_url=settings().basemap_url)
    spec["viewKey"] = "picker"
    return spec


def phone_zoom(box: tuple[float, float, float, float], width_px: int = PHONE_MAP_PX[0],
               height_px: int = PHONE_MAP_PX[1]) -> float:
    """The web-mercator zoom at which the whole box fits a phone's map (90 % of it), so every grid of the worker
    is on screen to be tapped (the one map's camera is made for a desktop's width)."""
    lon_span = max(box[2] - box[0], 1e-5)
    lat_span = max(box[3] - box[1], 1e-5)
    k = math.cos(math.radians((box[1] + box[3]) / 2))
    # 512 px per 360° of longitude at zoom 0; a degree of latitude is 1/cos(lat) times longer on the map
    fit = min(0.9 * width_px * 360 / (512 * lon_span), 0.9 * height_px * 360 * k / (512 * lat_span))
    return max(3.0, min(19.0, math.log2(fit)))


def grid_at(session: Session, viewer: Viewer, lon: float, lat: float) -> tuple[str | None, str | None]:
    """(the grid's words, None) when the point lies in one of the viewer's grids; (None, why not) otherwise.
    A hint for the person tapping, with no data of anyone: the report itself is checked (and a refusal
    audited) by analytics.incidents.report."""
    row = session.execute(_GRID_AT, {"lon": lon, "lat": lat, "srid": SRID}).first()
    if row is None:
        return None, "该点不在任何网格内，请在您负责的网格内重新点选"
    if not viewer.covers(row.code):
        return None, f"该点在{row.community}·{row.name}，不在您负责的网格内，请重新点选"
    return f"{row.community}·{row.name}", None


def point_picker(store_id: str, height: str = "300px") -> Any:
    """The map part of the picker, without a spec until it is opened; taps go to the store ``store_id``."""
    return deck_map(None, PICKER_LAYERS, height=height, show_toggles=False, legend=False, warm_pick=False,
                    pick_point=store_id)
