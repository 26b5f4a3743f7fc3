"""房屋 layer: when zoomed into one building, each dwelling as a slab at its floor (floor-by-floor view).

The building's footprint box is cut into columns (unit × room) and stacked by floor, so a
dwelling's place on screen matches where it is in the building. The jurisdiction check is
the query layer's (``building_dwellings`` refuses and audits a building outside it).
"""
from __future__ import annotations

from typing import Any

import pydeck as pdk
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import settings
from core.viewer import Viewer
from core.vocab import DwellingUse
from blockdata import queries
from layers.common import ramp


_BOX = text(
    """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), b.floors, b.height_m, b.name
       FROM building b, ST_Envelope(b.geom) e WHERE b.id = :id"""
)
_COUNTS = text(
    """SELECT d.id, count(p.id) AS n FROM dwelling d LEFT JOIN person p ON p.home_dwelling_id = d.id
       WHERE d.building_id = :id GROUP BY d.id"""
)


def dwelling_rows(session: Session, viewer: Viewer, building_id: int, *, only_floor: int | None = None) -> list[dict[str, Any]]:
    dwellings = queries.building_dwellings(session, viewer, building_id)
    x0, y0, x1, y1, floors, height_m, name = session.execute(_BOX, {"id": building_id}).one()
    counts = dict(session.execute(_COUNTS, {"id": building_id}).all())
    storey = float(height_m) / max(floors, 1)
    columns = sorted({(d.unit, d.room[-2:] if len(d.room) > 2 else d.room) for d in dwellings})
    width = (x1 - x0) / max(len(columns), 1)
    pad = width * 0.06
    out = []
    for d in dwellings:
        if only_floor is not None and d.floor != only_floor:
            continue
        col = columns.index((d.unit, d.room[-2:] if len(d.room) > 2 else d.room))
        z = max(d.floor - 1, 0) * storey
        ax, bx = x0 + col * width + pad, x0 + (col + 1) * width - pad
        ring = [[ax, y0, z], [bx, y0, z], [bx, y1, z], [ax, y1, z], [ax, y0, z]]
        n = counts.get(d.id, 0)
        cap = max(1, int(d.area_m2 // settings().area_per_person_m2))
        out.append({
            "kind": "dwelling", "id": d.id, "code": d.code, "floor": d.floor, "polygon": [ring],
            "height": storey * 0.85, "color": ramp(n, cap * 1.5, alpha=230) if d.use != "vacant" else [90, 90, 90, 160],
            "tip": f"{name} {d.unit} 单元 {d.floor} 层 {d.room} 室\n{d.area_m2:.0f} m² · {DwellingUse.label_of(d.use)} · 登记居住 {n} 人",
        })
    return out


def dwellings_layer(data: list[dict[str, Any]]) -> pdk.Layer:
    return pdk.Layer(
        "PolygonLayer", data=data, id="dwellings", get_polygon="polygon", get_elevation="height", get_fill_color="color",
        get_line_color=[230, 240, 255, 255], extruded=True, wireframe=True, pickable=True, auto_highlight=True,
    )
