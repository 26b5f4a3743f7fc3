"""网格 layer: every grid of the viewer's jurisdiction, filled by real-time population or open alerts.

Outlines are coloured per community so the community boundaries read without a base map.
"""
from __future__ import annotations

from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.population import live_population
from core.viewer import Viewer
from layers.common import outline_layer, outline_rows, ramp

_COMMUNITY_OUTLINES: list[list[int]] = [[120, 200, 255, 255], [255, 255, 255, 255], [140, 255, 170, 255], [255, 170, 220, 255]]

_SQL = text(
    """
    SELECT g.id, g.code, g.name, r.name AS community, g.community_code,
           ST_AsGeoJSON(g.geom, 6)::json -> 'coordinates' AS polygon,
           (SELECT count(*) FROM building b WHERE b.grid_id = g.id) AS buildings,
           (SELECT count(*) FROM alert a WHERE a.grid_id = g.id AND a.status IN ('open', 'dispatched')) AS alerts
    FROM grid g JOIN region r ON r.code = g.community_code
    WHERE g.code LIKE ANY(:patterns) AND g.code LIKE :within
    ORDER BY g.code
    """
)


def grid_rows(session: Session, viewer: Viewer, *, fill: str = "population",
              population: dict[int, int] | None = None, within: str = "") -> list[dict[str, Any]]:
    """One flat row per grid of the jurisdiction (or of the part of it whose codes start with ``within``):
    polygon, colour, Chinese tooltip; ``population`` maps grid id → real-time count (default: the
    maintained population of the same grids, analytics/population.py, summed after the same filter)."""
    params = {"patterns": viewer.like_patterns, "within": within + "%"}
    rows = session.execute(_SQL, params).mappings().all()
    if population is None:
        population = {int(p.id): p.realtime for p in live_population(session, viewer.like_patterns, "grid", within=within)}
    communities = sorted({r["community_code"] for r in rows})
    top_pop = max((population.get(r["id"], 0) for r in rows), default=0)
    top_alerts = max((r["alerts"] for r in rows), default=0)
    out = []
    for r in rows:
        pop = population.get(r["id"], 0)
        value, top = (r["alerts"], max(top_alerts, 3)) if fill == "alerts" else (pop, top_pop)
        out.append({
            "kind": "grid", "id": r["id"], "code": r["code"], "polygon": r["polygon"],
            "color": ramp(value, top, alpha=110),
            "line": _COMMUNITY_OUTLINES[communities.index(r["community_code"]) % len(_COMMUNITY_OUTLINES)],
            "population": pop, "alerts": r["alerts"],
            "tip": f"{r['community']} · {r['name']}\n网格 {r['code']}\n实时人口 {pop} · 楼栋 {r['buildings']} · 未结预警 {r['alerts']}",
        })
    return out


def grids_layer(data: list[dict[str, Any]] | str) -> pdk.Layer:
    """``data`` is the rows, or the URL of the cached route that serves them. The boundaries are
    :func:`grid_outlines_layer`, drawn right after it."""
    return pdk.Layer(
        "PolygonLayer", data=data, id="grids", get_polygon="polygon", get_fill_color="color", get_line_color="line",
        stroked=False, filled=True, extruded=False, pickable=True, auto_highlight=True,
    )


def grid_outline_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grids' boundaries as segments, coloured per community (the ``line`` of :func:`grid_rows`)."""
    return outline_rows(rows, color_key="line")


def grid_outlines_layer(data: list[dict[str, Any]] | str) -> pdk.Layer:
    """2 px community-coloured boundaries over the grids' fill (drawn as a LineLayer, see layers/common.py)."""
    return outline_layer("grids", data, width_px=2)
