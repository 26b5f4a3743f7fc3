"""闸机 layer and the gate-flow heatmap: where people pass, from live state (last N minutes) or rollups (any window).

Both read the same gate positions (cached per process: gates move only on import) and the same
flow numbers: the live state in Redis for "now" (ingest/live_state.py), ``gate_flow_minute`` for a
past window (the time slider's replay). Gates count as the viewer's when their compound's
buildings or their key site lie in the viewer's grids.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer
from layers.common import ramp

# The viewer's gates, found from the viewer's grids: the compounds with a building there (each gate's
# grid is still its compound's smallest grid code, over all its buildings) and the key sites there.
_GATES = text(
    """
    WITH vg AS (SELECT id FROM grid WHERE code LIKE ANY(:patterns)),
    near AS (SELECT DISTINCT b.compound_id FROM building b WHERE b.grid_id IN (SELECT id FROM vg) AND b.compound_id IS NOT NULL),
    owner_grid AS (SELECT b.compound_id, min(gr.code) AS code FROM building b JOIN grid gr ON gr.id = b.grid_id
                   WHERE b.compound_id IN (SELECT compound_id FROM near) GROUP BY 1)
    SELECT g.id, g.name, g.kind::text AS kind, ST_X(g.geom) AS lon, ST_Y(g.geom) AS lat,
           coalesce(c.name, k.name) AS owner,
           ST_X(ST_Centroid(coalesce(c.geom, k.geom))) AS cx, ST_Y(ST_Centroid(coalesce(c.geom, k.geom))) AS cy,
           coalesce(o.code, kg.code) AS grid_code
    FROM gate g LEFT JOIN owner_grid o ON o.compound_id = g.compound_id LEFT JOIN compound c ON c.id = o.compound_id
    LEFT JOIN key_site k ON k.id = g.key_site_id AND k.grid_id IN (SELECT id FROM vg) LEFT JOIN grid kg ON kg.id = k.grid_id
    WHERE (o.compound_id IS NOT NULL OR k.id IS NOT NULL) AND coalesce(o.code, kg.code) LIKE ANY(:patterns)
    ORDER BY g.id
    """
)
_WINDOW = text(
    """SELECT gate_id, sum(entries) AS "in", sum(exits) AS "out", sum(denied) AS deny
       FROM gate_flow_minute WHERE minute >= :start AND minute < :end
         AND (CAST(:gates AS integer[]) IS NULL OR gate_id = ANY(:gates)) GROUP BY gate_id"""
)

Flows = dict[int, dict[str, int]]


def visible_gates(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    """The gates in the viewer's jurisdiction with their position (no people in them), filtered in SQL."""
    return [dict(r) for r in session.execute(_GATES, {"patterns": viewer.like_patterns}).mappings()]


def window_flows(session: Session, start: dt.datetime, end: dt.datetime, gate_ids: list[int] | None = None) -> Flows:
    """gate id → in/out/deny over [start, end) from the per-minute rollups, of ``gate_ids`` only when given."""
    return {r.gate_id: {"in": int(r.__getattribute__("in")), "out": int(r.out), "deny": int(r.deny)}
            for r in session.execute(_WINDOW, {"start": start, "end": end, "gates": gate_ids})}


def heat_rows(gates: list[dict[str, Any]], flows: Flows) -> list[dict[str, Any]]:
    """Heat points: each gate weighted by its passages (in + out) in the window, sized and coloured by it."""
    weights = {g["id"]: flows.get(g["id"], {}).get("in", 0) + flows.get(g["id"], {}).get("out", 0) for g in gates}
    top = max(weights.values(), default=0)
    out = []
    for g in gates:
        weight = weights[g["id"]]
        if weight:
            out.append({"position": [round(g["lon"], 6), round(g["lat"], 6)], "weight": weight,
                        "radius": 25 + 95 * (weight / top) ** 0.5 if top else 25, "color": ramp(weight, top, alpha=110)})
    return out


def gate_rows(gates: list[dict[str, Any]], flows: Flows) -> list[dict[str, Any]]:
    """Gate markers: green where more came in than went out, amber otherwise; size by passages."""
    out = []
    for g in gates:
        f = flows.get(g["id"], {"in": 0, "out": 0, "deny": 0})
        n_in, n_out, deny = f.get("in", 0), f.get("out", 0), f.get("deny", 0)
        out.append({
            "kind": "gate", "id": g["id"], "position": [round(g["lon"], 6), round(g["lat"], 6)],
            "radius": 4 + min(8, (n_in + n_out) ** 0.5 * 0.6),
            "color": [80, 220, 140, 240] if n_in >= n_out else [255, 170, 60, 240],
            "tip": f"{g['owner']} · {g['name']}\n进 ↑{n_in} · 出 ↓{n_out} · 拒绝 {deny}",
        })
    return out


def arrow_rows(gates: list[dict[str, Any]], flows: Flows) -> list[dict[str, Any]]:
    """Two arrows per gate with traffic: green pointing in (towards its compound or site), amber pointing out;
    length by passages (20–80 m). Each arrow is three segments (shaft and two barbs ending at its head) drawn
    by a LineLayer, like the grid outlines: a PathLayer's shaders cost about 0.8 s on software WebGL."""
    out = []
    for g in gates:
        f = flows.get(g["id"], {})
        dx, dy = (g["cx"] or g["lon"]) - g["lon"], (g["cy"] or g["lat"]) - g["lat"]
        norm = math.hypot(dx * math.cos(math.radians(g["lat"])), dy) or 1.0
        ux, uy = dx / norm, dy / norm  # unit vector inwards, in degrees per degree of latitude
        for kind, sign, color, side in (("in", 1, [80, 220, 140, 255], 1), ("out", -1, [255, 170, 60, 255], -1)):
            n = f.get(kind, 0)
            if not n:
                continue
            metres = 20 + min(60.0, 4 * math.sqrt(n))
            length = metres / 111_320
            # side by side, not on top of each other: shift perpendicular by 6 m
            px, py = -uy * side * 6 / 111_320, ux * side * 6 / 111_320
            tail = (g["lon"] - sign * ux * length / 2 + px, g["lat"] - sign * uy * length / 2 + py)
            head = (g["lon"] + sign * ux * length / 2 + px, g["lat"] + sign * uy * length / 2 + py)
            barb = length * 0.3
            bx, by = sign * ux * barb, sign * uy * barb
            left = (head[0] - bx - by * 0.6, head[1] - by + bx * 0.6)
            right = (head[0] - bx + by * 0.6, head[1] - by - bx * 0.6)
            tip = f"{g['owner']} · {g['name']}\n{'进' if kind == 'in' else '出'} {n} 人次"
            to = [round(v, 6) for v in head]
            out.append({"source": [round(v, 6) for v in tail], "target": to, "color": color, "arrow": kind,
                        "kind": "gate", "id": g["id"], "tip": tip})
            for barb in (left, right):  # the shaft explains the arrow; the barbs only draw its head
                out.append({"source": [round(v, 6) for v in barb], "target": to, "color": color, "arrow": kind})
    return out


def gate_arrows_layer(data: list[dict[str, Any]]) -> pdk.Layer:
    return pdk.Layer(
        "LineLayer", data=data, id="gate_arrows", get_source_position="source", get_target_position="target",
        get_color="color", get_width=3, width_units=pdk.types.String("pixels"), pickable=True,
    )


def heatmap_layer(data: list[dict[str, Any]]) -> pdk.Layer:
    """Flow heat as soft discs in metres (radius and colour by passages), drawn additively so overlaps glow.

    deck.gl's HeatmapLayer aggregates on the GPU with programs of its own; on the software WebGL of a
    wall-screen PC without a GPU (and headless Chromium) compiling them cost about 3 s of a 5 s first
    render (docs/BENCHMARKS.md). These discs reuse the gate markers' shader, and with a few hundred
    gates per street there is nothing to aggregate.
    """
    return pdk.Layer(
        "ScatterplotLayer", data=data, id="heatmap", get_position="position", get_radius="radius", get_fill_color="color",
        radius_units=pdk.types.String("meters"), stroked=False, pickable=False, antialiasing=True,
        parameters={"blend": True, "blendColorSrcFactor": pdk.types.String("src-alpha"),
                    "blendColorDstFactor": pdk.types.String("one")},
    )


def gates_layer(data: list[dict[str, Any]]) -> pdk.Layer:
    return pdk.Layer(
        "ScatterplotLayer", data=data, id="gates", get_position="position", get_radius="radius",
        get_fill_color="color", get_line_color=[255, 255, 255, 255], radius_units=pdk.types.String("pixels"),
        stroked=True, line_width_min_pixels=1, pickable=True, parameters={"depthCompare": pdk.types.String("always")},
    )
