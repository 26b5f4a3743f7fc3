"""Geometry checks of imported features: convert to WGS84, then accept, repair safely, or reject.

``make_valid`` always returns *something* valid, but not always the shape that was meant: a bow-tie
becomes two triangles, a folded ring loses half its area. A repair is accepted only when the result
is still one polygon whose area differs from the input's by at most ``SAFE_AREA_CHANGE``; anything
else is rejected with the reason, because a wrong footprint in a grid is worse than a missing one.
"""
from __future__ import annotations

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity, make_valid

from core.errors import InvalidGeometry
from intake.coords import SourceCRS, to_wgs84
from blockdata.geometry import area_m2, validated
from intake.importers.report import REPAIRED, Report

SAFE_AREA_CHANGE = 0.01  # 1 %


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def _shoelace_area(geom: BaseGeometry) -> float:
    """The area the drawn rings enclose, as the file's author would measure it (valid or not)."""
    return sum(abs(Polygon(p.exterior.coords).area) for p in _polygons(geom) if len(p.exterior.coords) >= 4)


def checked(
    geom: BaseGeometry | None, *, kinds: tuple[str, ...], src: SourceCRS, row: int, record: str, report: Report
) -> BaseGeometry | None:
    """The feature's geometry in WGS84, valid and of one of ``kinds``; None (and a report line) if not."""
    if geom is None:
        report.reject(row, record, "geometry", "the feature has no geometry")
        return None
    try:
        geom = to_wgs84(geom, src)
    except Exception as exc:  # pyproj/numpy failures on garbage coordinates
        report.reject(row, record, "geometry", f"cannot convert from {src}: {exc}")
        return None
    if geom.is_empty:
        report.reject(row, record, "geometry", "the geometry is empty")
        return None
    if "Polygon" in kinds and isinstance(geom, MultiPolygon) and len(geom.geoms) == 1:
        geom = geom.geoms[0]  # a one-part MultiPolygon (as shapefiles often write) is a Polygon
    if kinds == ("Polygon",) and isinstance(geom, MultiPolygon):
        report.reject(row, record, "geometry", f"a MultiPolygon of {len(geom.geoms)} parts where one polygon is expected")
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon") and not geom.is_valid:
        geom = _repair(geom, row=row, record=record, report=report)
        if geom is None:
            return None
    try:
        return validated(geom, kinds=kinds, record=record)
    except InvalidGeometry as exc:
        report.reject(row, record, "geometry", exc.reason)
        return None


def _repair(geom: BaseGeometry, *, row: int, record: str, report: Report) -> BaseGeometry | None:
    why = explain_validity(geom)
    before = _shoelace_area(geom)
    fixed = make_valid(geom)
    parts = _polygons(fixed)
    after = sum(p.area for p in parts)
    change = abs(after - before) / before if before > 0 else float("inf")
    if len(parts) == 1 and change <= SAFE_AREA_CHANGE:
        report.add(row, record, "geometry", REPAIRED,
                   f"invalid geometry ({why}) repaired with make_valid: one polygon, area changed by {change:.2%}")
        return parts[0] if isinstance(geom, Polygon) else MultiPolygon(parts)
    if isinstance(geom, MultiPolygon) and len(parts) >= 1 and change <= SAFE_AREA_CHANGE and len(parts) == len(geom.geoms):
        report.add(row, record, "geometry", REPAIRED,
                   f"invalid geometry ({why}) repaired with make_valid: same {len(parts)} parts, area changed by {change:.2%}")
        return MultiPolygon(parts)
    detail = f"{len(parts)} polygons" if len(parts) != 1 else "one polygon"
    change_text = "an area change that cannot be measured" if change == float("inf") else f"area changed by {change:.1%}"
    report.reject(row, record, "geometry",
                  f"invalid geometry ({why}); make_valid would give {detail} and {change_text}, not a safe repair")
    return None


def metric_area(geom: BaseGeometry) -> float:
    return area_m2(geom)


def representative(geom: BaseGeometry) -> BaseGeometry:
    return shapely.point_on_surface(geom)
