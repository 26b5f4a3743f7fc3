"""Coordinates that cannot silently be 500 m off: does the file fit the map as given, or as GCJ-02/BD-09?

A GeoJSON from AMap, Tencent or DataV is in GCJ-02 but declares WGS84 (or nothing); read as
WGS84 it lands about 500 m off around Nanjing, close enough to look right and far enough to put
buildings in the wrong grid. When the file declares nothing better and ``--crs`` is not given, its
features are laid on the map already there (``area.Reference``) under each reading:

* as given (WGS84),
* corrected from GCJ-02, and from BD-09,
* shifted *into* GCJ-02 (the map itself was imported from GCJ-02 data without ``--crs``).

For each reading, the misfit is the share of the file that lies outside the reference (polygons by
area, points by count), over the features that touch the reference under at least one reading (a
feature far away under every reading tells nothing). A reading fits *far better* when its misfit is
at most a third of the as-given one and at least one percentage point lower, and the file then lies
(almost, ``CLIPPED_SHARE``) wholly on the map: then the import is refused with a message that names
the ``--crs`` to give. A file that reaches well beyond the map (an export cut by a bounding box that
covers the neighbouring district too) is left alone: a shift then only trades the features on one
side of the edge for those on the other, which says where the data is dense, not which system it is
in. Nor can a file be told that fits equally well either way (small, or spread evenly).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from intake.coords import BD09, GCJ02, SourceCRS, to_wgs84, wgs84_to_gcj02
from intake.importers.area import Reference

FAR_BETTER_RATIO = 3.0
FAR_BETTER_POINTS = 0.01
CLIPPED_SHARE = 0.9     # the file must lie (almost) wholly on the map under the better reading
SAMPLE = 3000           # features checked at most (evenly spread): enough to see a 500 m shift
_BIG_POLYGON_DEG2 = 1e-6  # ≈ 10 000 m²: larger polygons count by area inside, smaller by their point


@dataclass(frozen=True)
class Fit:
    """Misfit (share outside the reference) of the file as given and under the best other reading."""

    as_given: float
    best_name: str | None
    best: float
    features: int
    on_map: float = 1.0     # share of the whole file inside the reference under the better reading

    @property
    def far_better(self) -> bool:
        return (self.best_name is not None and self.on_map >= CLIPPED_SHARE
                and self.as_given - self.best >= FAR_BETTER_POINTS and self.best * FAR_BETTER_RATIO <= self.as_given)


def _into_gcj02(geom: BaseGeometry) -> BaseGeometry:
    def forward(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])
    return shapely.transform(geom, forward)


_READINGS = {
    "gcj02": lambda g: to_wgs84(g, GCJ02),
    "bd09": lambda g: to_wgs84(g, BD09),
    "map_is_gcj02": _into_gcj02,
}


def _inside(geom: BaseGeometry, ref: Reference) -> float:
    """Share of ``geom`` inside the reference: by area for big polygons, 0 or 1 for the rest."""
    if geom.geom_type in ("Polygon", "MultiPolygon") and geom.area > _BIG_POLYGON_DEG2:
        return float(geom.intersection(ref.geom).area / geom.area)
    return 1.0 if ref.geom.covers(shapely.point_on_surface(geom)) else 0.0


def measure(geoms: list[BaseGeometry], ref: Reference) -> Fit:
    """The misfit of ``geoms`` (read as WGS84) as given and under the best correction."""
    usable = [g for g in geoms if g is not None and not g.is_empty and g.geom_type != "GeometryCollection"]
    if len(usable) > SAMPLE:
        usable = [usable[i] for i in np.linspace(0, len(usable) - 1, SAMPLE).astype(int)]
    shares = {"as_given": [_inside(g, ref) for g in usable]}
    for name, read in _READINGS.items():
        shares[name] = [_inside(read(g), ref) for g in usable]
    informative = [i for i in range(len(usable)) if any(s[i] > 0 for s in shares.values())]
    if not informative:
        return Fit(0.0, None, 0.0, 0)
    misfit = {name: 1.0 - float(np.mean([s[i] for i in informative])) for name, s in shares.items()}
    best_name = min(_READINGS, key=lambda n: misfit[n])
    on_map = float(np.mean(shares[best_name]))
    return Fit(misfit["as_given"], best_name, misfit[best_name], len(informative), on_map)


def refusal(fit: Fit, ref: Reference) -> str | None:
    """The one-line refusal when another reading fits far better; None when the file fits as given."""
    if not fit.far_better:
        return None
    numbers = (f"{fit.as_given:.1%} of the file lies outside the {ref.layer} on the map as given, "
               f"{fit.best:.1%} after the correction")
    if fit.best_name == "map_is_gcj02":
        return (f"the file fits the map far better shifted into GCJ-02 ({numbers}): the {ref.layer} already imported are "
                "probably AMap/DataV (GCJ-02) data imported without --crs gcj02; undo that import "
                "(gridpulse import runs; gridpulse import undo RUN) and import it again with --crs gcj02, "
                "or pass --crs wgs84 to import this file as given")
    name = {"gcj02": "GCJ-02 (AMap, Tencent, DataV)", "bd09": "BD-09 (Baidu)"}[fit.best_name or ""]
    return (f"the coordinates fit the map far better as {name} ({numbers}): pass --crs {fit.best_name}, "
            "or --crs wgs84 if the file really is WGS84")


def check(geoms: list[BaseGeometry], ref: Reference | None, src: SourceCRS) -> str | None:
    """A refusal message for a file read as WGS84 that fits far better otherwise, else None."""
    if ref is None or src.name != "wgs84":
        return None
    return refusal(measure(geoms, ref), ref)
