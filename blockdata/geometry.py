"""Geometry in and out: parse, validate and measure, so bad shapes are refused before they reach SQL."""
from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from core.errors import InvalidGeometry

WGS84 = "EPSG:4326"
METRIC = "EPSG:32650"  # UTM 50N: metres around Nanjing (CGCS2000 ≈ WGS84 at this precision)

# Roughly China with a margin: a coordinate outside is almost always swapped lon/lat or a projected CRS.
_LON_RANGE = (70.0, 140.0)
_LAT_RANGE = (0.0, 60.0)


def parse_geometry(value: BaseGeometry | str | Mapping[str, Any], *, record: str) -> BaseGeometry:
    """Accept a shapely geometry, WKT, or a GeoJSON mapping/string; refuse anything unparsable."""
    if isinstance(value, BaseGeometry):
        return value
    try:
        if isinstance(value, Mapping):
            return shape(value)
        text = value.strip()
        if text.startswith("{"):
            return shape(json.loads(text))
        return shapely.from_wkt(text)
    except Exception as exc:  # shapely raises several types for malformed input
        raise InvalidGeometry(f"cannot parse geometry: {exc}", record=record) from exc


def validated(
    value: BaseGeometry | str | Mapping[str, Any], *, kinds: tuple[str, ...], record: str
) -> BaseGeometry:
    """A geometry of one of ``kinds``, valid, non-empty and in lon/lat degrees around China."""
    geom = parse_geometry(value, record=record)
    if geom.is_empty:
        raise InvalidGeometry("geometry is empty", record=record)
    if geom.geom_type not in kinds:
        raise InvalidGeometry(f"expected {' or '.join(kinds)}, got {geom.geom_type}", record=record)
    if not geom.is_valid:
        raise InvalidGeometry(f"invalid geometry: {explain_validity(geom)}", record=record)
    minx, miny, maxx, maxy = geom.bounds
    if not (_LON_RANGE[0] <= minx <= maxx <= _LON_RANGE[1] and _LAT_RANGE[0] <= miny <= maxy <= _LAT_RANGE[1]):
        raise InvalidGeometry(
            f"coordinates {geom.bounds} are not lon/lat degrees in China (EPSG:4326 expected; swapped axes?)",
            record=record,
        )
    return geom


@lru_cache(maxsize=4)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.column_stack(_transformer(WGS84, METRIC).transform(xy[:, 0], xy[:, 1])))


def to_wgs84(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.column_stack(_transformer(METRIC, WGS84).transform(xy[:, 0], xy[:, 1])))


def area_m2(geom: BaseGeometry) -> float:
    return to_metric(geom).area
