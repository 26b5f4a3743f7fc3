"""GCJ-02 / BD-09 / projected CGCS2000 to WGS84: round trips always, the real paired boundaries when present."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from core.errors import InvalidInput
from intake import coords as C
from blockdata.geometry import to_metric

NANJING = (118.7969, 32.0603)


def test_gcj02_offset_at_nanjing_is_the_published_one() -> None:
    lon, lat = C.wgs84_to_gcj02(*NANJING)
    assert lon - NANJING[0] == pytest.approx(0.0052, abs=0.0003)
    assert lat - NANJING[1] == pytest.approx(-0.0021, abs=0.0003)


@pytest.mark.parametrize("point", [NANJING, (116.3975, 39.9087), (121.4737, 31.2304), (113.2644, 23.1291), (87.6168, 43.8256)])
def test_gcj02_inverse_round_trip_below_1e_7_degrees(point: tuple[float, float]) -> None:
    back = C.gcj02_to_wgs84(*C.wgs84_to_gcj02(*point))
    assert max(abs(back[0] - point[0]), abs(back[1] - point[1])) < 1e-7


def test_bd09_round_trips_through_gcj02() -> None:
    bd = C.wgs84_to_bd09(*NANJING)
    assert C.distance_m(NANJING[0], NANJING[1], *bd) > 500  # BD-09 is further off than GCJ-02
    back = C.bd09_to_wgs84(*bd)
    assert max(abs(back[0] - NANJING[0]), abs(back[1] - NANJING[1])) < 1e-7
    gcj = C.bd09_to_gcj02(*C.gcj02_to_bd09(118.8, 32.05))
    assert gcj == pytest.approx((118.8, 32.05), abs=1e-8)


def test_outside_china_nothing_moves() -> None:
    for point in [(2.3522, 48.8566), (139.9, 35.6), (-74.0, 40.7)]:
        assert C.wgs84_to_gcj02(*point) == point
        assert C.gcj02_to_wgs84(*point) == point
        assert C.bd09_to_wgs84(*point) == pytest.approx(point)


def test_arrays_convert_in_one_call() -> None:
    lon = np.array([118.70, 118.80, 118.90])
    lat = np.array([32.00, 32.05, 32.10])
    glon, glat = C.wgs84_to_gcj02(lon, lat)
    wlon, wlat = C.gcj02_to_wgs84(glon, glat)
    assert np.max(np.abs(wlon - lon)) < 1e-7 and np.max(np.abs(wlat - lat)) < 1e-7


def test_projected_cgcs2000_zones() -> None:
    assert C.source_crs("EPSG:4549").projected
    assert C.source_crs("cgcs2000") == C.WGS84 and C.source_crs("EPSG:4490") == C.WGS84
    assert C.source_crs("baidu") == C.BD09 and C.source_crs("AMap") == C.GCJ02
    assert C.guess_projected(39_668_118.0, 3_548_782.0) == C.SourceCRS("EPSG:4527", projected=True)
    assert C.guess_projected(668_118.0, 3_548_782.0) is None  # no zone number: ambiguous
    xy = np.array([[39_668_118.356729, 3_548_782.863203]])
    assert C.convert_xy(xy, C.source_crs("EPSG:4527"))[0] == pytest.approx([118.78, 32.05], abs=1e-8)
    with pytest.raises(InvalidInput, match="unknown coordinate system"):
        C.source_crs("mars-2")


def _geoms(path: Path, key: str) -> dict[str, object]:
    doc = json.loads(path.read_text())
    return {str(f["properties"][key]): shape(f["geometry"]) for f in doc["features"]}


def vertex_to_boundary_m(gcj: dict, wgs: dict, *, convert: bool = True) -> np.ndarray:
    """Distances (m) from each (converted) GCJ-02 vertex to the same district's WGS84 boundary."""
    out = []
    for code, geom in gcj.items():
        xy = shapely.get_coordinates(geom)
        if convert:
            xy = C.convert_xy(xy, C.GCJ02)
        points = to_metric(shapely.multipoints(xy))
        out.append(shapely.distance(shapely.points(shapely.get_coordinates(points)), to_metric(wgs[code].boundary)))
    return np.concatenate(out)


def test_datav_gcj02_districts_match_poi86_wgs84_after_conversion(shared_dir: Path) -> None:
    """Extra, on shared/ data: converted DataV vertices against the independent poi86 WGS84 boundaries."""
    admin = shared_dir / "geodata" / "admin"
    gcj = _geoms(admin / "datav_320100_full_gcj02.json", "adcode")
    poi86 = _geoms(admin / "poi86_nanjing_districts_320100_wgs84.geojson", "id")
    assert np.median(vertex_to_boundary_m(gcj, poi86, convert=False)) > 200  # the raw offset: hundreds of metres
    assert np.median(vertex_to_boundary_m(gcj, poi86)) < 2.0
    derived = _geoms(admin / "datav_320100_full_wgs84.geojson", "adcode")
    for code, geom in gcj.items():
        ours = C.convert_xy(shapely.get_coordinates(geom), C.GCJ02)
        theirs = shapely.get_coordinates(derived[code])
        assert float(np.max(C.distance_m(ours[:, 0], ours[:, 1], theirs[:, 0], theirs[:, 1]))) < 0.01
