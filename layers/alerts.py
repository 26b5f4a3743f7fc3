"""预警 layer: open alerts as markers, coloured by severity, labelled by rule (no names: a count of places)."""
from __future__ import annotations

from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer
from core.vocab import RuleName, Severity
from layers.common import SEVERITY_COLORS

_SQL = text(
    """
    SELECT a.id, a.rule, a.severity::text AS severity, a.status::text AS status, a.created_at,
           ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat, g.code AS grid, g.name AS grid_name
    FROM alert a JOIN grid g ON g.id = a.grid_id
    WHERE a.status IN ('open', 'dispatched') AND a.geom IS NOT NULL AND g.code LIKE ANY(:patterns)
    ORDER BY a.created_at DESC, a.id DESC
    """
)


def alert_rows(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    rows = session.execute(_SQL, {"patterns": viewer.like_patterns}).mappings().all()
    return [{
        "kind": "alert", "id": r["id"], "rule": r["rule"], "severity": r["severity"], "grid": r["grid"],
        "position": [round(r["lon"], 6), round(r["lat"], 6)], "color": SEVERITY_COLORS.get(r["severity"], [255, 255, 255, 255]),
        "radius": {"low": 7, "medium": 9, "high": 12, "critical": 15}.get(r["severity"], 8),
        "tip": f"{RuleName.label_of(r['rule'])}\n严重程度 {Severity.label_of(r['severity'])} · "
               f"{r['grid_name']}\n{'已派单' if r['status'] == 'dispatched' else '待处置'}",
    } for r in rows]


def alerts_layer(data: list[dict[str, Any]]) -> pdk.Layer:
    return pdk.Layer(
        "ScatterplotLayer", data=data, id="alerts", get_position="position", get_radius="radius", get_fill_color="color",
        get_line_color=[20, 20, 20, 255], radius_units=pdk.types.String("pixels"), stroked=True,
        line_width_min_pixels=2, pickable=True,
        parameters={"depthCompare": pdk.types.String("always")},  # drawn over the 3D buildings, never hidden by them
    )
