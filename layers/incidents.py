"""事件上报 layer: incidents reported by grid workers, open ones bright, settled ones faded (no names)."""
from __future__ import annotations

from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer
from layers.common import literal

CATEGORY_LABELS = {"fire_hazard": "消防隐患", "public_order": "治安隐患", "sanitation": "环境卫生", "facility": "设施损坏",
                   "dispute": "矛盾纠纷", "other": "其他"}
_SQL = text(
    """
    SELECT i.id, i.category, i.created_at, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, g.name AS grid,
           coalesce(w.status::text, 'assigned') AS status
    FROM incident i JOIN grid g ON g.id = i.grid_id LEFT JOIN work_order w ON w.id = i.work_order_id
    WHERE g.code LIKE ANY(:patterns) AND i.created_at > now() - interval '30 days'
    ORDER BY i.created_at DESC LIMIT 2000
    """
)


def incident_rows(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    """The last 30 days' incidents of the viewer's grids (the category and the grid; never who reported them)."""
    rows = session.execute(_SQL, {"patterns": viewer.like_patterns}).mappings().all()
    return [{
        "kind": "incident", "id": r["id"], "position": [round(r["lon"], 6), round(r["lat"], 6)],
        "color": [255, 90, 200, 255] if r["status"] in ("assigned", "in_progress") else [255, 90, 200, 90],
        "tip": f"事件上报 · {CATEGORY_LABELS.get(r['category'], r['category'])}\n{r['grid']}\n"
               f"{'处置中' if r['status'] in ('assigned', 'in_progress') else '已办结'}",
    } for r in rows]


def incidents_layer(data: list[dict[str, Any]]) -> pdk.Layer:
    return pdk.Layer(
        "ScatterplotLayer", data=data, id="incidents", get_position="position", get_radius=9, get_fill_color="color",
        get_line_color=[255, 255, 255, 255], radius_units=literal("pixels"), stroked=True, line_width_min_pixels=2,
        pickable=True, parameters={"depthCompare": literal("always")},
    )
