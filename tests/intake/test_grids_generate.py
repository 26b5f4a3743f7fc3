"""`gridpulse grids generate` as a street office uses it: a street split into grids of about N households that
follow the road and never cut a compound, previewed before anything is written; community outlines from
their grids; regions given as points; and the real Gulou OSM export."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import LineString, Point, box, mapping, shape
from shapely.ops import unary_union
from sqlalchemy import func, select

from cli import main
from blockdata import registry
from blockdata.db import transaction
from blockdata.geometry import to_metric, to_wgs84
from blockdata.models import Grid, Region, RegionLevel
from tests import places as P

STREET, NORTH, SOUTH, EMPTY = "320102001000", "320102001001", "320102001002", "320102001003"
ORIGIN = to_metric(Point(118.80, 32.04))


def m(x: float, y: float) -> tuple[float, float]:
    """Metres east/north of the origin, as lon/lat."""
    p = to_wgs84(Point(ORIGIN.x + x, ORIGIN.y + y))
    return p.x, p.y


def mbox(x0: float, y0: float, x1: float, y1: float):  # noqa: ANN201 - a WGS84 polygon from metres
    return to_wgs84(box(ORIGIN.x + x0, ORIGIN.y + y0, ORIGIN.x + x1, ORIGIN.y + y1))


ROAD = LineString([m(600, -50), m(600, 850)])  # a primary road from south to north through the middle
# name → (box in metres, buildings); each building 600 m² × 18 floors = 90 households
COMPOUNDS = {
    "西北甲苑": ((60, 560, 260, 760), 3), "西北乙苑": ((300, 560, 540, 760), 3), "西北丙苑": ((60, 420, 260, 540), 3),
    "东北苑": ((700, 450, 1100, 750), 6), "西南苑": ((100, 50, 500, 350), 6), "东南苑": ((700, 50, 1100, 350), 6),
}


def _buildings(x0: float, y0: float, x1: float, y1: float, n: int) -> list:
    """n footprints of ~600 m² in a row inside the compound box."""
    step = (x1 - x0) / n
    return [mbox(x0 + i * step + 5, y0 + 20, x0 + i * step + 5 + min(step - 10, 30), y0 + 20 + 600 / min(step - 10, 30))
            for i in range(n)]


def osm_file(path: Path) -> Path:
    features = [{"type": "Feature", "properties": {"highway": "primary", "name": "中央路"}, "geometry": mapping(ROAD)},
                {"type": "Feature", "properties": {"highway": "footway"},  # a footpath through compounds cuts nothing
                 "geometry": mapping(LineString([m(0, 650), m(1200, 650)]))}]
    for name, (bx, n) in COMPOUNDS.items():
        features.append({"type": "Feature", "properties": {"landuse": "residential", "name": name},
                         "geometry": mapping(mbox(*bx))})
        for b in _buildings(*bx, n):
            features.append({"type": "Feature", "properties": {"building": "apartments", "building:levels": "18"},
                             "geometry": mapping(b)})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def street(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A street with a polygon, two communities as points (north, south) and one without any place."""
    with transaction() as s:
        P.empty_tables(s)
        registry.add_region(s, code="320100000000", name="南京市", level=RegionLevel.city, parent_code=None)
        registry.add_region(s, code="320102000000", name="玄武区", level=RegionLevel.district, parent_code="320100000000")
        registry.add_region(s, code=STREET, name="测试街道", level=RegionLevel.street, parent_code="320102000000",
                            geom=mbox(0, 0, 1200, 800))
        registry.add_region(s, code=NORTH, name="北社区", level=RegionLevel.community, parent_code=STREET,
                            location=Point(*m(600, 700)))
        registry.add_region(s, code=SOUTH, name="南社区", level=RegionLevel.community, parent_code=STREET,
                            location=Point(*m(600, 100)))
        registry.add_region(s, code=EMPTY, name="无位置社区", level=RegionLevel.community, parent_code=STREET)
    return osm_file(tmp_path_factory.mktemp("grids") / "street_osm.geojson")


def grid_count() -> int:
    with transaction() as s:
        return s.scalar(select(func.count()).select_from(Grid))


def test_preview_follows_the_road_and_keeps_compounds_whole(street: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    preview = tmp_path / "preview.geojson"
    rc = main(["grids", "generate", "--in", STREET, "--from", str(street), "--per-grid", "400", "--preview", str(preview)])
    out = capsys.readouterr().out
    assert rc == 0 and "nothing written" in out and "无位置社区" in out  # the community without a place is named
    assert grid_count() == 0  # a preview writes nothing
    grids = json.loads(preview.read_text(encoding="utf-8"))["features"]
    shapes = [to_metric(shape(f["geometry"])) for f in grids]
    street_m = to_metric(mbox(0, 0, 1200, 800))
    # the grids tile the street: no gap, no overlap
    assert abs(unary_union(shapes).area - street_m.area) < 0.001 * street_m.area
    assert sum(g.area for g in shapes) == pytest.approx(street_m.area, rel=0.001)
    # no grid crosses the primary road
    road = to_metric(ROAD)
    assert all(road.intersection(g.buffer(-1)).length < 1 for g in shapes)
    # no compound is cut (not even by the footway through three of them): each lies (almost) in one grid
    for name, (bx, _) in COMPOUNDS.items():
        c = to_metric(mbox(*bx))
        assert max(c.intersection(g).area for g in shapes) > 0.99 * c.area, name
    # sized by households: 3 compounds of 270 in the north-west block make 2 grids, none above 2× the target
    households = [f["properties"]["households"] for f in grids]
    assert sum(households) == 27 * 90 and max(households) <= 800 and min(households) >= 200, households
    codes = {f["properties"]["code"] for f in grids}
    assert {c[:12] for c in codes} == {NORTH, SOUTH} and NORTH + "001" in codes and SOUTH + "001" in codes


def test_write_derives_community_outlines_and_refuses_a_second_run(street: Path, capsys) -> None:  # noqa: ANN001
    html = street.parent / "preview.html"
    assert main(["grids", "generate", "--in", STREET, "--from", str(street), "--preview", str(html), "--write"]) == 0
    assert "<svg" in html.read_text(encoding="utf-8") and "http" not in html.read_text(encoding="utf-8")
    capsys.readouterr()
    with transaction() as s:
        grids = list(s.scalars(select(Grid)))
        assert grids and all(g.name.startswith(("北社区第", "南社区第")) for g in grids)
        for code in (NORTH, SOUTH):
            community = s.get(Region, code)
            union = unary_union([to_metric(to_shape(g.geom)) for g in grids if g.community_code == code])
            assert to_metric(to_shape(community.geom)).symmetric_difference(union).area < 1.0
        assert s.get(Region, EMPTY).geom is None  # nothing invented for a community without a place
        before = sorted((g.code, to_shape(g.geom).wkt) for g in grids)
    rc = main(["grids", "generate", "--in", NORTH, "--from", str(street), "--write"])
    err = capsys.readouterr().err
    assert rc == 2 and "already have grids" in err and len(err.strip().splitlines()) == 1
    with transaction() as s:
        assert sorted((g.code, to_shape(g.geom).wkt) for g in s.scalars(select(Grid))) == before


@pytest.mark.parametrize(("argv", "message"), [
    (["--in", "320102000000", "--preview", "x.geojson"], "generate grids for a street or a community"),
    (["--in", EMPTY, "--preview", "x.geojson"], "has neither a polygon nor a point"),
    (["--in", "320102009000", "--preview", "x.geojson"], "no region 320102009000"),
    (["--in", STREET, "--per-grid", "0", "--preview", "x.geojson"], "--per-grid"),
    (["--in", STREET], "nothing to do"),
])
def test_clear_errors(street: Path, argv: list[str], message: str, capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    assert main(["grids", "generate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.geojson").exists()


def test_an_outline_given_for_a_community_without_any_place(street: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    outline = tmp_path / "outline.geojson"
    outline.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "无位置社区"}, "geometry": mapping(mbox(0, 0, 300, 300))}]}))
    preview = tmp_path / "empty.geojson"
    assert main(["grids", "generate", "--in", EMPTY, "--boundary", str(outline), "--preview", str(preview)]) == 0
    capsys.readouterr()
    grids = json.loads(preview.read_text())["features"]
    assert {f["properties"]["community_code"] for f in grids} == {EMPTY}
    union = unary_union([to_metric(shape(f["geometry"])) for f in grids])
    assert union.symmetric_difference(to_metric(mbox(0, 0, 300, 300))).area < 1.0


def test_a_street_with_only_a_point_gets_the_voronoi_cell_within_its_district(database_url: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    with transaction() as s:
        P.empty_tables(s)
        registry.add_region(s, code="320100000000", name="南京市", level=RegionLevel.city, parent_code=None)
        registry.add_region(s, code="320102000000", name="玄武区", level=RegionLevel.district, parent_code="320100000000",
                            geom=mbox(0, 0, 2000, 1000))
        registry.add_region(s, code="320102001000", name="西街道", level=RegionLevel.street, parent_code="320102000000",
                            location=Point(*m(500, 500)))
        registry.add_region(s, code="320102002000", name="东街道", level=RegionLevel.street, parent_code="320102000000",
                            location=Point(*m(1500, 500)))
        registry.add_region(s, code="320102001001", name="西社区", level=RegionLevel.community, parent_code="320102001000",
                            location=Point(*m(400, 400)))
    preview = tmp_path / "west.geojson"
    assert main(["grids", "generate", "--in", "320102001000", "--by", "buildings", "--preview", str(preview)]) == 0
    assert "Voronoi cell" in capsys.readouterr().out
    union = unary_union([to_metric(shape(f["geometry"])) for f in json.loads(preview.read_text())["features"]])
    west_half = to_metric(mbox(0, 0, 1000, 1000))
    assert union.symmetric_difference(west_half).area < 0.001 * west_half.area


def test_regions_as_point_rows_get_a_location_and_no_polygon(database_url: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    with transaction() as s:
        P.empty_tables(s)
    rows = [("320100000000", "南京市", None), ("320102000000", "玄武区", m(100, 100)), ("320102001000", "梅园新村街道", m(200, 200))]
    path = tmp_path / "regions_points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": n}, "geometry": {"type": "Point", "coordinates": p} if p else None}
        for c, n, p in rows]}), encoding="utf-8")
    assert main(["import", "regions", str(path)]) == 0
    capsys.readouterr()
    with transaction() as s:
        street = s.get(Region, "320102001000")
        assert street.geom is None and to_shape(street.location).distance(Point(*m(200, 200))) < 1e-9
        assert s.get(Region, "320100000000").location is None


def test_real_gulou_osm_export_tiles_the_street(database_url: str, shared_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """华侨路街道 from the Vonng points, the Gulou fence, the 2018 overpass export and the OSM land use."""
    geo = shared_dir / "geodata"
    with transaction() as s:
        P.empty_tables(s)
    assert main(["import", "regions", str(geo / "admin" / "vonng_adcode_320100_320102_320106_points_wgs84.geojson")]) == 0
    preview = tmp_path / "huaqiao.geojson"
    rc = main(["grids", "generate", "--in", "320106002000", "--from",
               str(geo / "osm" / "nanjing_osm_overpass_2018_gulou_xuanwu.geojson"),
               str(geo / "osm" / "poi86_osm_landuse_gulou_xuanwu.geojson"),
               "--boundary", str(geo / "admin" / "vonng_fences_320100_320102_320106_wgs84.geojson"),
               "--by", "buildings", "--per-grid", "20", "--preview", str(preview)])
    out = capsys.readouterr().out
    assert rc == 0 and "Voronoi cell" in out
    shapes = [to_metric(shape(f["geometry"])) for f in json.loads(preview.read_text())["features"]]
    assert len(shapes) >= 4
    overlap = sum(a.intersection(b).area for i, a in enumerate(shapes) for b in shapes[i + 1:])
    assert overlap < 1.0
    assert grid_count() == 0



def test_every_street_of_gulou_and_xuanwu_gets_valid_grids(database_url: str, shared_dir: Path, capsys) -> None:  # noqa: ANN001
    """The real streets as an office brings them in (Vonng points and fences, modood's street list) and every
    street's grids written: each grid one valid polygon in PostGIS, none overlapping another. Six of these
    streets used to fail: five with a grid that crossed itself once reprojected, one with a crash."""
    geo = shared_dir / "geodata"
    admin = geo / "admin"
    fences = admin / "vonng_fences_320100_320102_320106_wgs84.geojson"
    points = admin / "vonng_adcode_320100_320102_320106_points_wgs84.geojson"
    with transaction() as s:
        P.empty_tables(s)
    assert main(["import", "regions", str(points)]) == 0
    assert main(["import", "regions", str(fences), "--mode", "upsert"]) == 0
    assert main(["import", "regions", str(admin / "modood_streets_320102_320106.csv"), "--mode", "upsert"]) == 0
    streets = sorted(f["properties"]["code"] for f in json.loads(points.read_text(encoding="utf-8"))["features"]
                     if f["properties"].get("rank") == "4")
    assert {"320106006000", "320106007000", "320106010000", "320102008000", "320102009000", "320102010000"} <= set(streets)
    failed = []
    for street in streets:
        rc = main(["grids", "generate", "--in", street, "--from",
                   str(geo / "osm" / "nanjing_osm_overpass_2018_gulou_xuanwu.geojson"),
                   str(geo / "osm" / "poi86_osm_landuse_gulou_xuanwu.geojson"), "--boundary", str(fences), "--write"])
        if rc != 0:
            failed.append((street, capsys.readouterr().err.strip()[-300:]))
    assert failed == []
    with transaction() as s:
        rows = s.execute(select(Grid.code, func.ST_IsValid(Grid.geom), func.GeometryType(Grid.geom), Grid.geom)).all()
    assert {code[:9] + "000" for code, *_ in rows} == set(streets)  # every street has grids (its code's first 9 digits)
    assert [code for code, valid, kind, _ in rows if not valid or kind != "POLYGON"] == []
    shapes = {code: to_metric(to_shape(geom)) for code, _, _, geom in rows}
    overlapping = [(a, b) for a in shapes for b in shapes if a < b and shapes[a].intersection(shapes[b]).area > 5.0]
    assert overlapping == []
