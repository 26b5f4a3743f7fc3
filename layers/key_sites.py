"""重点场所 layer: schools, hospitals, stations, markets of the jurisdiction as outlined areas."""
from __future__ import annotations

from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer
from core.vocab import KeySiteCategory
from layers.common import outline_layer, outline_rows

_SQL = text(
    """
    SELECT k.id, k.code, k.name, k.category::text AS category, k.capacity, g.code AS grid,
           ST_AsGeoJSON(k.geom, 6)::json -> 'coordinates' AS polygon
    FROM key_site k JOIN grid g ON g.id = k.grid_id
    WHERE g.code LIKE ANY(:patterns) ORDER BY k.code
    """
)


def key_site_rows(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    rows = session.execute(_SQL, {"patterns": viewer.like_patterns}).mappings().all()
    return [{
        "kind": "key_site", "id": r["id"], "code": r["code"], "polygon": r["polygon"], "color": [190, 120, 255, 120],
        "tip": f"重点场所 · {KeySiteCategory.label_of(r['category'])}\n{r['name']}"
               + (f"\n核定容量 {r['capacity']} 人" if r["capacity"] else ""),
    } for r in rows]


def key_sites_layer(data: list[dict[str, Any]]) -> pdk.Layer:
    return pdk.Layer(
        "PolygonLayer", data=data, id="key_sites", get_polygon="polygon", get_fill_color="color",
        stroked=False, filled=True, pickable=True,
    )


OUTLINE = [200, 140, 255, 255]


def key_site_outline_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return outline_rows(rows, color=OUTLINE)


def key_site_outlines_layer(data: list[dict[str, Any]]) -> pdk.Layer:
    """3 px outlines over the sites' fill (a LineLayer, see layers/common.py)."""
    return outline_layer("key_sites", data, width_px=3)
