"""Coordinate systems met in Chinese data, converted to WGS84 (EPSG:4326) on import.

* GCJ-02 ("Mars" coordinates of AMap, Tencent and DataV) is WGS84 plus a published, non-linear
  offset (about 500 m around Nanjing). The forward formula is public; it has no closed inverse, so
  GCJ-02 → WGS84 iterates the forward formula until the residual is below ~1e-9° (≈ 0.1 mm).
* BD-09 (Baidu) is a further rotation-and-shift of GCJ-02 with an exact inverse.
* Both offsets apply only inside China: outside the customary bounding box, providers leave
  coordinates untouched, and so do we.
* CGCS2000 geographic (EPSG:4490) differs from WGS84 by centimetres and is taken as equal; projected
  CGCS2000 Gauss–Krüger zones (EPSG:4491–4554, e.g. 4549 for 120°E, 4527 for zone 39 with the zone
  number in the easting) go through pyproj.

Everything works on numpy arrays so a whole layer converts in one call per geometry
(``shapely.transform``), which keeps the building importer fast.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from core.errors import InvalidInput

_A = 6378245.0                   # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323     # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0

# The bounds inside which Chinese web maps apply their offset (the customary "out_of_china" box).
CHINA_LON = (72.004, 137.8347)
CHINA_LAT = (0.8293, 55.8271)


def in_china(lon: np.ndarray | float, lat: np.ndarray | float) -> np.ndarray | bool:
    """Whether points lie in the box where GCJ-02/BD-09 offsets are applied."""
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    inside = (lon_a >= CHINA_LON[0]) & (lon_a <= CHINA_LON[1]) & (lat_a >= CHINA_LAT[0]) & (lat_a <= CHINA_LAT[1])
    return bool(inside) if inside.ndim == 0 else inside


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (degrees) at WGS84 points, per the public formula."""
    x, y = lon - 105.0, lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * math.pi)
    return dlon, dlat


def _arrays(lon, lat):  # noqa: ANN001, ANN202 - scalars or arrays in, float arrays out
    return np.array(lon, dtype=float, copy=True), np.array(lat, dtype=float, copy=True)


def _like(value, out: np.ndarray):  # noqa: ANN001, ANN202 - give back a float for a float
    return float(out) if np.ndim(value) == 0 else out


def wgs84_to_gcj02(lon, lat):  # noqa: ANN001, ANN201
    """WGS84 → GCJ-02; points outside China are returned unchanged."""
    x, y = _arrays(lon, lat)
    mask = np.asarray(in_china(x, y))
    dlon, dlat = _offset(x, y)
    gx, gy = np.where(mask, x + dlon, x), np.where(mask, y + dlat, y)
    return _like(lon, gx), _like(lat, gy)


def gcj02_to_wgs84(lon, lat, *, tolerance: float = 1e-9, max_iterations: int = 30):  # noqa: ANN001, ANN201
    """GCJ-02 → WGS84 by fixed-point iteration of the forward formula.

    Starting from the GCJ-02 point itself, each step moves the guess by the residual of
    forward(guess) − target. The offset varies slowly (its gradient is ~1e-5 per degree), so the
    iteration contracts fast: 3–5 steps reach 1e-9°. Outside China the point is unchanged.
    """
    gx, gy = _arrays(lon, lat)
    mask = np.asarray(in_china(gx, gy))
    wx, wy = gx.copy(), gy.copy()
    for _ in range(max_iterations):
        dlon, dlat = _offset(wx, wy)
        rx, ry = wx + dlon - gx, wy + dlat - gy
        wx, wy = wx - rx, wy - ry
        if float(np.max(np.abs(np.concatenate([np.ravel(rx), np.ravel(ry)])), initial=0.0)) < tolerance:
            break
    wx, wy = np.where(mask, wx, gx), np.where(mask, wy, gy)
    return _like(lon, wx), _like(lat, wy)


def bd09_to_gcj02(lon, lat):  # noqa: ANN001, ANN201
    """BD-09 → GCJ-02 (Baidu's exact inverse rotation)."""
    bx, by = _arrays(lon, lat)
    x, y = bx - 0.0065, by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    # Baidu's published inverse is itself approximate (~5e-7°); two fixed-point steps through the
    # exact forward formula bring it below 1e-9°.
    for _ in range(3):
        fx, fy = _gcj02_to_bd09_raw(gx, gy)
        gx, gy = gx - (fx - bx), gy - (fy - by)
    mask = np.asarray(in_china(bx, by))
    gx, gy = np.where(mask, gx, bx), np.where(mask, gy, by)
    return _like(lon, gx), _like(lat, gy)


def _gcj02_to_bd09_raw(gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(gx * gx + gy * gy) + 0.00002 * np.sin(gy * _X_PI)
    theta = np.arctan2(gy, gx) + 0.000003 * np.cos(gx * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon, lat):  # noqa: ANN001, ANN201
    """GCJ-02 → BD-09."""
    gx, gy = _arrays(lon, lat)
    fx, fy = _gcj02_to_bd09_raw(gx, gy)
    mask = np.asarray(in_china(gx, gy))
    bx, by = np.where(mask, fx, gx), np.where(mask, fy, gy)
    return _like(lon, bx), _like(lat, by)


def bd09_to_wgs84(lon, lat):  # noqa: ANN001, ANN201
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon, lat):  # noqa: ANN001, ANN201
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


# --- declared source systems ----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceCRS:
    """What a file's coordinates are in: a web-map system by name, or an EPSG code pyproj knows."""

    name: str           # "wgs84", "gcj02", "bd09" or "EPSG:nnnn"
    projected: bool = False

    def __str__(self) -> str:
        return self.name


WGS84 = SourceCRS("wgs84")
GCJ02 = SourceCRS("gcj02")
BD09 = SourceCRS("bd09")

_ALIASES = {
    "wgs84": WGS84, "wgs-84": WGS84, "epsg:4326": WGS84, "crs84": WGS84, "4326": WGS84,
    "ogc:crs84": WGS84, "urn:ogc:def:crs:ogc:1.3:crs84": WGS84,
    "cgcs2000": WGS84, "epsg:4490": WGS84, "4490": WGS84,  # CGCS2000 ≈ WGS84 at the centimetre level
    "gcj02": GCJ02, "gcj-02": GCJ02, "amap": GCJ02, "gaode": GCJ02, "tencent": GCJ02, "mars": GCJ02,
    "bd09": BD09, "bd-09": BD09, "baidu": BD09, "bd09ll": BD09,
}


def source_crs(name: str | None) -> SourceCRS:
    """Resolve a declared system (``--crs`` or a file's CRS) to a SourceCRS; refuse unknown names."""
    if name is None or not str(name).strip():
        return WGS84
    key = str(name).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        crs = CRS.from_user_input(name)
    except Exception as exc:  # pyproj raises CRSError with a long message
        raise InvalidInput(
            f"unknown coordinate system {name!r}: use wgs84, cgcs2000, gcj02, bd09 or an EPSG code such as EPSG:4549",
            record="--crs",
        ) from exc
    epsg = crs.to_epsg()
    if epsg in (4326, 4490) or (crs.is_geographic and crs.ellipsoid and crs.ellipsoid.name in ("WGS 84", "CGCS2000")):
        return WGS84
    return SourceCRS(f"EPSG:{epsg}" if epsg else crs.to_wkt(), projected=crs.is_projected)


_GK_ZONE_EASTING = re.compile(r"^(\d{2})\d{6}(\.\d*)?$")


def guess_projected(x: float, y: float) -> SourceCRS | None:
    """A CGCS2000 3-degree Gauss–Krüger zone from an easting that carries its zone number (e.g. 39 500 000).

    Only the zone-prefixed form is unambiguous; a bare easting (about 500 000) could be any zone,
    so for that the caller must ask for ``--crs``.
    """
    m = _GK_ZONE_EASTING.match(f"{x:.3f}".split(".")[0])
    if m and 25 <= int(m.group(1)) <= 45 and 0 < y < 6_500_000:
        return SourceCRS(f"EPSG:{4513 + int(m.group(1)) - 25}", projected=True)
    return None


@lru_cache(maxsize=16)
def _to_wgs84(crs: str) -> Transformer:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def convert_xy(xy: np.ndarray, src: SourceCRS) -> np.ndarray:
    """An (N, 2) array of coordinates in ``src`` as WGS84 lon/lat."""
    if src == WGS84 or len(xy) == 0:
        return xy
    if src == GCJ02:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    elif src == BD09:
        lon, lat = bd09_to_wgs84(xy[:, 0], xy[:, 1])
    else:
        lon, lat = _to_wgs84(src.name).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def to_wgs84(geom: BaseGeometry, src: SourceCRS) -> BaseGeometry:
    """A geometry from ``src`` in WGS84 (a no-op for WGS84/CGCS2000)."""
    if src == WGS84:
        return geom
    return shapely.transform(geom, lambda xy: convert_xy(xy, src))


def distance_m(lon1, lat1, lon2, lat2):  # noqa: ANN001, ANN201
    """Great-circle distance in metres (haversine), for reporting conversion errors."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371008.8 * np.arcsin(np.sqrt(h))
