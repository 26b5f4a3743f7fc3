"""A map to import OSM data onto: Nanjing → Gulou (its real WGS84 boundary) → one street → two communities,
grids as 0.01° cells over Gulou (west of 118.77°E in one community, east in the other). Xuanwu is not on
it, so Xuanwu's features in the raw OSM files lie outside the jurisdiction."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry import Polygon, box, shape
from sqlalchemy.orm import Session

from blockdata import registry
from blockdata.models import RegionLevel
from tests.places import empty_tables

GULOU = "320106000000"
STREET = "320106001000"
WEST, EAST = "320106001001", "320106001002"
SPLIT_LON = 118.77
CELL = 0.01


@dataclass(frozen=True)
class OsmMap:
    grids: int
    boundary: object  # Gulou's polygon (shapely)


def gulou_boundary(shared: Path):  # noqa: ANN201 - a shapely geometry
    doc = json.loads((shared / "geodata/admin/poi86_nanjing_districts_320100_wgs84.geojson").read_text())
    feature = next(f for f in doc["features"] if str(f["properties"]["id"]) == "320106")
    return shape(feature["geometry"])


def build(session: Session, shared: Path) -> OsmMap:
    empty_tables(session)
    boundary = gulou_boundary(shared)
    registry.add_region(session, code="320100000000", name="南京市", level=RegionLevel.city, parent_code=None)
    registry.add_region(session, code=GULOU, name="鼓楼区", level=RegionLevel.district, parent_code="320100000000",
                        geom=boundary)
    registry.add_region(session, code=STREET, name="宁海路街道", level=RegionLevel.street, parent_code=GULOU)
    registry.add_region(session, code=WEST, name="西社区", level=RegionLevel.community, parent_code=STREET)
    registry.add_region(session, code=EAST, name="东社区", level=RegionLevel.community, parent_code=STREET)
    minx, miny, maxx, maxy = boundary.bounds
    seq = {WEST: 0, EAST: 0}
    nx, ny = math.floor(minx / CELL), math.floor(miny / CELL)  # cell edges on whole hundredths: 118.77 is one
    for i in range(nx, math.ceil(maxx / CELL)):
        x = i * CELL
        for j in range(ny, math.ceil(maxy / CELL)):
            y = j * CELL
            piece = box(x, y, x + CELL, y + CELL).intersection(boundary)
            if not piece.is_empty:
                parts = [piece] if isinstance(piece, Polygon) else [g for g in getattr(piece, "geoms", []) if isinstance(g, Polygon)]
                if parts:
                    part = max(parts, key=lambda g: g.area)
                    community = WEST if x + CELL / 2 < SPLIT_LON else EAST
                    seq[community] += 1
                    registry.add_grid(session, community_code=community, sequence=f"{seq[community]:03d}",
                                      name=f"网格{seq[community]}", geom=shapely.set_precision(part, 1e-9))
    return OsmMap(grids=sum(seq.values()), boundary=boundary)
