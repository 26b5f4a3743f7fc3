"""The area already on the map: the reference a new file's coordinates are checked against.

Two questions need it. Does a feature lie inside the jurisdiction at all (an OSM export cut by a
bounding box always reaches beyond it)? And do the file's coordinates fit the map as given, or far
better after the GCJ-02/BD-09 correction (``intake.importers.crs_fit``)? The finest layer that
covers ground answers both: the grids when there are any, else the regions that have a polygon.
"""
from __future__ import annotations

from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Reference:
    """The union of the grids (or of the regions with a polygon), prepared for fast containment tests."""

    layer: str              # "grids" or "regions"
    geom: BaseGeometry

    def covers(self, geom: BaseGeometry) -> bool:
        return bool(self.geom.covers(shapely.point_on_surface(geom)))


def load_reference(session: Session) -> Reference | None:
    """Grids if any, else regions with a polygon; None on an empty map (nothing to check against)."""
    for layer, sql in (
        ("grids", "SELECT ST_AsBinary(ST_Union(geom)) FROM grid"),
        ("regions", "SELECT ST_AsBinary(ST_Union(geom)) FROM region WHERE geom IS NOT NULL"),
    ):
        wkb = session.execute(text(sql)).scalar()
        if wkb is not None:
            geom = shapely.from_wkb(bytes(wkb))
            shapely.prepare(geom)
            return Reference(layer=layer, geom=geom)
    return None
