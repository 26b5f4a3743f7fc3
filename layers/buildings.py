"""楼栋 layer: buildings in 3D, height from their floors, coloured by occupancy or by open alerts.

Occupancy is residents per dwelling (a count, not people): it shows group rentals and empty
blocks at a glance without reading anyone's record.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer
from layers.common import ramp

FLOOR_HEIGHT_M = 3.0

_SQL = text(
    """
    WITH b AS (
      SELECT b.id, b.code, b.name, b.floors, b.height_m, c.name AS compound, g.code AS grid, g.id AS grid_id,
             ST_AsGeoJSON(b.geom, 6)::json -> 'coordinates' AS polygon
      FROM building b JOIN grid g ON g.id = b.grid_id LEFT JOIN compound c ON c.id = b.compound_id
      WHERE g.code LIKE ANY(:patterns) AND (CAST(:grid AS text) IS NULL OR g.code = :grid) AND g.code LIKE :within
    ), d AS (
      SELECT d.building_id, count(*) AS dwellings,
             count(p.id) AS residents
      FROM dwelling d LEFT JOIN person p ON p.home_dwelling_id = d.id
      WHERE d.building_id IN (SELECT id FROM b) GROUP BY d.building_id
    ), a AS (  -- open alerts of the viewer's buildings and their dwellings only (never the whole base's)
      SELECT building_id, sum(n)::int AS n FROM (
        SELECT dw.building_id, count(*) AS n FROM alert al JOIN dwelling dw ON dw.id = al.subject_id
        WHERE al.subject_kind = 'dwelling' AND al.status IN ('open', 'dispatched') AND dw.building_id IN (SELECT id FROM b)
        GROUP BY 1
        UNION ALL
        SELECT al.subject_id, count(*) FROM alert al
        WHERE al.subject_kind = 'building' AND al.status IN ('open', 'dispatched') AND al.subject_id IN (SELECT id FROM b)
        GROUP BY 1) per_kind GROUP BY 1
    )
    SELECT b.*, coalesce(d.dwellings, 0) AS dwellings, coalesce(d.residents, 0) AS residents, coalesce(a.n, 0) AS alerts
    FROM b LEFT JOIN d ON d.building_id = b.id LEFT JOIN a ON a.building_id = b.id
    ORDER BY b.code
    """
)


def building_rows(session: Session, viewer: Viewer, *, fill: str = "occupancy", grid_code: str | None = None,
                  within: str = "") -> list[dict[str, Any]]:
    """One flat row per building of the jurisdiction (or of one grid of it, or of the grids whose codes
    start with ``within``), filtered in SQL before anything is counted."""
    rows = session.execute(_SQL, {"patterns": viewer.like_patterns, "grid": grid_code, "within": within + "%"}).mappings().all()
    return [building_row(r, fill) for r in rows]


def building_row(r: Mapping[str, Any], fill: str) -> dict[str, Any]:
    """A building's map row from its query row: extruded by floors, coloured by residents per dwelling or open
    alerts, with its tooltip (the street map's layer and the viewport's buildings alike)."""
    per_dwelling = r["residents"] / r["dwellings"] if r["dwellings"] else 0.0
    color = ramp(r["alerts"], 3, alpha=235) if fill == "alerts" else ramp(per_dwelling, 4.0, alpha=235)
    return {
        "kind": "building", "id": r["id"], "code": r["code"], "grid": r["grid"], "polygon": r["polygon"],
        "height": float(r["height_m"] or r["floors"] * FLOOR_HEIGHT_M), "floors": r["floors"], "color": color,
        "residents": r["residents"], "dwellings": r["dwellings"], "alerts": r["alerts"],
        "tip": f"{r['compound'] or ''} {r['name']}\n{r['floors']} 层 · {r['dwellings']} 户 · 登记居住 {r['residents']} 人"
               f"\n户均 {per_dwelling:.1f} 人 · 未结预警 {r['alerts']}",
    }


def buildings_layer(data: list[dict[str, Any]] | str) -> pdk.Layer:
    return pdk.Layer(
        "PolygonLayer", data=data, id="buildings", get_polygon="polygon", get_elevation="height", get_fill_color="color",
        get_line_color=[20, 30, 50, 255], extruded=True, wireframe=True, pickable=True, auto_highlight=True,
        material={"ambient": 0.45, "diffuse": 0.6, "shininess": 24},
    )
