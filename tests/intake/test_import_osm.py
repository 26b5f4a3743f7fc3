"""Raw OSM exports in, as a street office gets them: only what belongs to the kind, everything left out said.

Expected numbers are computed here from the raw files with shapely (what the tags and the map say), never
read back from the importer's own counts.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import func, select, text

from blockdata.db import transaction
from blockdata.models import Building, Compound, KeySite
from intake.coords import wgs84_to_gcj02
from intake.importers import run_import
from intake.importers.osm import OSM_DEFAULT_FLOORS, SITE_RADIUS_M
from blockdata.models import KeySiteCategory
from tests.intake import osm_map
from tests.places import count

OVERPASS = "geodata/osm/nanjing_osm_overpass_2018_gulou_xuanwu.geojson"
LANDUSE = "geodata/osm/poi86_osm_landuse_gulou_xuanwu.geojson"


@pytest.fixture(scope="module")
def the_map(database_url: str, shared_dir: Path) -> osm_map.OsmMap:
    with transaction() as s:
        return osm_map.build(s, shared_dir)


def grid_union():  # noqa: ANN201 - the grids on the map as one shapely geometry
    with transaction() as s:
        return shapely.from_wkb(bytes(s.execute(text("SELECT ST_AsBinary(ST_Union(geom)) FROM grid")).scalar_one()))


def features(shared: Path, name: str) -> list[dict]:
    return json.loads((shared / name).read_text())["features"]


def by_status(report, status: str) -> dict[int, str]:  # noqa: ANN001
    return {p.row: p.reason for p in report.problems if p.status == status}


def test_buildings_from_the_raw_overpass_export(the_map: osm_map.OsmMap, shared_dir: Path) -> None:
    raw = features(shared_dir, OVERPASS)
    grids = grid_union()
    footprints = {i + 1: f for i, f in enumerate(raw)
                  if f["properties"].get("building") not in (None, "no") and f["geometry"]["type"] in ("Polygon", "MultiPolygon")}
    multi = {row for row, f in footprints.items() if f["geometry"]["type"] == "MultiPolygon"
             and len(f["geometry"]["coordinates"]) > 1}  # relations of several footprints: not one building
    inside = {row for row, f in footprints.items() if grids.covers(shape(f["geometry"]).representative_point())} - multi
    assert 50 < len(inside) < len(footprints) and multi  # the file reaches into Xuanwu, which is not on this map
    report = run_import("buildings", shared_dir / OVERPASS, dry_run=True)
    assert report.summary["osm"] == "overpass"
    left = report.summary["osm_left_out"]
    assert left["not tagged building=*"] == len(raw) - len(footprints) - 1  # roads, POIs, land use …
    assert left["a building drawn as a point or line has no footprint"] == 1
    skipped = by_status(report, "skipped")
    assert set(skipped) == set(footprints) - inside
    assert all("outside the jurisdiction" in skipped[row] or "lies in no grid" in skipped[row]
               for row in set(skipped) - multi)
    assert all("multipolygon" in skipped[row] for row in multi)
    assert report.ok, report.to_csv()
    real = run_import("buildings", shared_dir / OVERPASS)
    assert real.summary["written"] == len(inside)
    with transaction() as s:
        b = s.scalar(select(Building).where(Building.code == "OSM-W377938022"))  # building:levels=7 in the file
        assert b.floors == 7 and b.name == "49号"
        levels = {i for i, f in footprints.items() if i in inside and (f["properties"].get("building:levels")
                                                                        or f["properties"].get("height"))}
        defaulted = s.scalar(select(func.count()).select_from(Building).where(Building.floors == OSM_DEFAULT_FLOORS))
    assert real.summary["floors_defaulted"] == len(inside) - len(levels)
    assert defaulted >= len(inside) - len(levels)
    warned = by_status(real, "warning")
    no_compound = [r for r in warned.values() if "lies in no compound" in r]
    assert len(no_compound) == real.summary["buildings_in_no_compound"] == len(inside)  # no compounds imported yet


def test_compounds_from_geofabrik_landuse_use_the_osm_id_and_report_two_communities(
        the_map: osm_map.OsmMap, shared_dir: Path) -> None:
    raw = features(shared_dir, LANDUSE)
    grids = grid_union()
    residential = {i + 1: f for i, f in enumerate(raw) if f["properties"]["fclass"] == "residential"}
    inside = {row for row, f in residential.items() if grids.covers(shape(f["geometry"]).representative_point())}
    report = run_import("compounds", shared_dir / LANDUSE)
    assert report.summary["osm"] == "geofabrik"
    assert sum(report.summary["osm_left_out"].values()) == len(raw) - len(residential)  # parks, grass, retail …
    assert report.summary["written"] == len(inside)
    with transaction() as s:
        codes = set(s.scalars(select(Compound.code)))
        named = s.scalar(select(Compound).where(Compound.name == "清河新寓二村"))
    # the Geofabrik 'code' column is OSM's class number (7203 = residential), never a compound's code
    assert not any(c.isdigit() for c in codes) and all(c.startswith("OSM-") for c in codes)
    assert named is not None and named.code == "OSM-" + next(
        f["properties"]["osm_id"] for f in residential.values() if f["properties"]["name"] == "清河新寓二村")
    spans = [p for p in report.problems if "spans grids of 2 communities" in p.reason]
    west_east = [row for row in inside
                 if shape(residential[row]["geometry"]).bounds[0] < osm_map.SPLIT_LON < shape(residential[row]["geometry"]).bounds[2]]
    assert spans and {p.row for p in spans} <= set(west_east)
    assert all(osm_map.WEST in p.reason and osm_map.EAST in p.reason for p in spans)
    unnamed = {row for row in inside if not residential[row]["properties"]["name"]}
    assert {p.row for p in report.problems if "no name" in p.reason} == unnamed
    outside = set(residential) - inside
    assert {p.row for p in report.problems if p.status == "skipped"} == outside


def test_key_sites_keep_categories_and_points_become_circles(the_map: osm_map.OsmMap, shared_dir: Path) -> None:
    report = run_import("key_sites", shared_dir / OVERPASS, dry_run=True)
    left = report.summary["osm_left_out"]
    assert left.get("amenity=bank is not a key-site category", 0) >= 5  # banks are not key sites
    assert left.get("railway=subway_entrance is not a key-site category", 0) >= 5  # an entrance is part of its station
    assert left.get("railway=subway is not a key-site category", 0) >= 3  # the metro lines (their stations are sites)
    run_import("key_sites", shared_dir / OVERPASS)
    with transaction() as s:
        hospital = s.scalar(select(KeySite).where(KeySite.code == "OSM-N772575619"))  # 江苏省人民医院, a node
        area = s.scalar(select(func.ST_Area(func.geography(KeySite.geom))).where(KeySite.id == hospital.id))
        centre = s.execute(select(func.ST_X(func.ST_Centroid(KeySite.geom)), func.ST_Y(func.ST_Centroid(KeySite.geom)))
                           .where(KeySite.id == hospital.id)).one()
        school = s.scalar(select(KeySite).where(KeySite.code == "OSM-W88780395"))  # 金陵中学, a polygon
        bank = s.scalar(select(KeySite).where(KeySite.name == "中国工商银行"))
    assert hospital.category is KeySiteCategory.hospital and hospital.name == "江苏省人民医院"
    r = SITE_RADIUS_M[KeySiteCategory.hospital]
    assert abs(area - math.pi * r * r) / (math.pi * r * r) < 0.02
    assert abs(centre[0] - 118.7616) < 0.01 and abs(centre[1] - 32.0483) < 0.01  # where the node is (WGS84)
    assert school is not None and school.category is KeySiteCategory.school
    assert bank is None


def _into_gcj02(src: Path, dst: Path, boundary) -> None:  # noqa: ANN001 - only the features of this area
    doc = json.loads(src.read_text())
    doc["features"] = [f for f in doc["features"] if f.get("geometry")
                       and boundary.covers(shape(f["geometry"]).representative_point())]

    def move(coords):  # noqa: ANN001, ANN202
        if isinstance(coords[0], (int, float)):
            return list(wgs84_to_gcj02(coords[0], coords[1]))
        return [move(c) for c in coords]

    for f in doc["features"]:
        if f.get("geometry"):
            f["geometry"]["coordinates"] = move(f["geometry"]["coordinates"])
    dst.write_text(json.dumps(doc, ensure_ascii=False))


def test_a_gcj02_copy_is_refused_naming_the_crs_and_lands_right_with_it(
        the_map: osm_map.OsmMap, shared_dir: Path, tmp_path: Path) -> None:
    gcj = tmp_path / "buildings_gcj02.geojson"  # Gulou's own data, as AMap would give it
    _into_gcj02(shared_dir / OVERPASS, gcj, grid_union())
    report = run_import("buildings", gcj, dry_run=True)
    crs_lines = [p for p in report.problems if p.field == "crs" and p.status == "rejected"]
    assert len(crs_lines) == 1 and "--crs gcj02" in crs_lines[0].reason and "GCJ-02" in crs_lines[0].reason
    assert len(report.problems) > 1  # the other checks still ran in the dry run
    # hard negative: the WGS84 original is not refused; nor is the GCJ-02 copy when told what it is
    assert not [p for p in run_import("buildings", shared_dir / OVERPASS, dry_run=True).problems if p.field == "crs"]
    assert not [p for p in run_import("buildings", gcj, crs="gcj02", dry_run=True).problems if p.field == "crs"]
    # a GCJ-02 point becomes the same site as its WGS84 original
    sites = tmp_path / "sites_gcj02.geojson"
    lon, lat = 118.7616, 32.0483
    sites.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "GCJ-HOSP", "name": "点", "category": "hospital"},
         "geometry": {"type": "Point", "coordinates": list(wgs84_to_gcj02(lon, lat))}}]}))
    run_import("key_sites", sites, crs="gcj02")
    with transaction() as s:
        x, y = s.execute(select(func.ST_X(func.ST_Centroid(KeySite.geom)), func.ST_Y(func.ST_Centroid(KeySite.geom)))
                         .where(KeySite.code == "GCJ-HOSP")).one()
    assert abs(x - lon) < 1e-5 and abs(y - lat) < 1e-5  # ≈ 1 m


def test_source_osm_on_a_file_of_our_own_is_one_clear_line(the_map: osm_map.OsmMap, tmp_path: Path) -> None:
    from core.errors import InvalidInput
    from intake.importers import Options

    path = tmp_path / "own.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "B-1"}, "geometry": {"type": "Point", "coordinates": [118.77, 32.06]}}]}))
    before = count(Building)
    with pytest.raises(InvalidInput, match="not an OSM export") as err:
        run_import("buildings", path, options=Options(source="osm"))
    assert "\n" not in str(err.value) and count(Building) == before
