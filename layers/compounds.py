"""小区 layer: the compounds of the jurisdiction as outlines with a faint fill and their names on the map.

A real street office's first question after an import is whether the buildings lie in their compounds;
without the compounds on the map it cannot see it. A compound is in the viewer's area when its community
is, or when it overlaps one of the viewer's grids (a grid worker's jurisdiction is grids, not communities).
The names are a ``TextLayer`` whose character set is exactly the names' characters (deck.gl draws text from
a font atlas; the default atlas is ASCII only). Its id ends in ``_label`` and the outline's in ``_outline``,
so the map's toggle 小区 shows and hides all three.
"""
from __future__ import annotations

from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer
from layers.common import literal, outline_layer, outline_rows

FILL = [255, 230, 140, 40]
OUTLINE = [255, 215, 90, 255]
LABEL = [255, 236, 170, 255]

_SQL = text(
    """
    SELECT c.id, c.code, c.name, r.name AS community,
           ST_AsGeoJSON(c.geom, 6)::json -> 'coordinates' AS polygon,
           ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat,
           (SELECT count(*) FROM building b WHERE b.compound_id = c.id) AS buildings,
           (SELECT count(*) FROM gate t WHERE t.compound_id = c.id) AS gates
    FROM compound c JOIN region r ON r.code = c.community_code
    WHERE c.community_code LIKE ANY(:patterns)
       OR EXISTS (SELECT 1 FROM grid g WHERE g.code LIKE ANY(:patterns) AND ST_Intersects(g.geom, c.geom))
    ORDER BY c.code
    """
)


def compound_rows(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    """One row per compound in the viewer's area: polygon, label position, Chinese tooltip."""
    rows = session.execute(_SQL, {"patterns": viewer.like_patterns}).mappings().all()
    return [{
        "kind": "compound", "id": r["id"], "code": r["code"], "name": r["name"], "polygon": r["polygon"],
        "position": [round(r["lon"], 6), round(r["lat"], 6)], "color": FILL,
        "tip": f"小区 · {r['name']}\n{r['community']} · 编码 {r['code']}\n楼栋 {r['buildings']} · 闸机 {r['gates']}",
    } for r in rows]


def compounds_layer(data: list[dict[str, Any]]) -> pdk.Layer:
    """A faint fill, so the compound can be hovered (tooltip) without hiding the grid colours beneath."""
    return pdk.Layer("PolygonLayer", data=data, id="compounds", get_polygon="polygon", get_fill_color="color",
                     stroked=False, filled=True, pickable=True)


def compound_outlines_layer(rows: list[dict[str, Any]]) -> pdk.Layer:
    return outline_layer("compounds", outline_rows(rows, color=OUTLINE), width_px=2)


def compound_labels_layer(rows: list[dict[str, Any]]) -> pdk.Layer:
    """The names at each compound's point on surface; the atlas holds just the characters used."""
    characters = "".join(sorted({ch for r in rows for ch in r["name"]})) or " "  # a string: a list would be read as an accessor
    data = [{"position": r["position"], "name": r["name"]} for r in rows]
    return pdk.Layer("TextLayer", data=data, id="compounds_label", get_position="position", get_text="name",
                     get_size=15, size_units=literal("pixels"), get_color=LABEL, character_set=literal(characters),
                     font_family=literal("Noto Sans CJK SC, WenQuanYi Zen Hei, sans-serif"),
                     background=True, get_background_color=[20, 30, 50, 200], background_padding=[4, 2],
                     billboard=True, pickable=False,
                     parameters={"depthCompare": literal("always")})  # standing labels, never cut by the ground
