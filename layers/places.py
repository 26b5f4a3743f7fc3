"""Place layers as GeoJSON FeatureCollections straight from PostGIS: grids and buildings.

PostGIS builds the GeoJSON (ST_AsGeoJSON) so Python never walks coordinates; results are
filtered by the viewer's jurisdiction like every other query.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer

_GRIDS = text(
    """
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(s.f ORDER BY s.code), '[]'))
    FROM (
      SELECT g.code, json_build_object(
        'type', 'Feature', 'id', g.code,
        'geometry', ST_AsGeoJSON(g.geom, 6)::json,
        'properties', json_build_object(
          'code', g.code, 'name', g.name, 'community', r.name, 'community_code', g.community_code,
          'buildings', (SELECT count(*) FROM building b WHERE b.grid_id = g.id))) AS f
      FROM grid g JOIN region r ON r.code = g.community_code
      WHERE g.code LIKE ANY(:patterns)
    ) s
    """
)

_BUILDINGS = text(
    """
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(s.f ORDER BY s.code), '[]'))
    FROM (
      SELECT b.code, json_build_object(
        'type', 'Feature', 'id', b.code,
        'geometry', ST_AsGeoJSON(b.geom, 6)::json,
        'properties', json_build_object(
          'id', b.id, 'code', b.code, 'name', b.name, 'floors', b.floors, 'height_m', b.height_m,
          'compound', c.name, 'grid', g.code,
          'dwellings', (SELECT count(*) FROM dwelling d WHERE d.building_id = b.id))) AS f
      FROM building b JOIN grid g ON g.id = b.grid_id LEFT JOIN compound c ON c.id = b.compound_id
      WHERE g.code LIKE ANY(:patterns)
    ) s
    """
)


def grids_geojson(session: Session, viewer: Viewer) -> dict[str, Any]:
    return _collection(session, _GRIDS, viewer)


def buildings_geojson(session: Session, viewer: Viewer) -> dict[str, Any]:
    return _collection(session, _BUILDINGS, viewer)


def _collection(session: Session, query, viewer: Viewer) -> dict[str, Any]:  # noqa: ANN001
    value = session.execute(query, {"patterns": viewer.like_patterns}).scalar_one()
    return value if isinstance(value, dict) else json.loads(value)


def bounds(collection: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of a FeatureCollection, for centring the map."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            xs.append(coords[0])
            ys.append(coords[1])
        else:
            for c in coords:
                walk(c)

    for feature in collection.get("features", []):
        walk(feature["geometry"]["coordinates"])
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None
