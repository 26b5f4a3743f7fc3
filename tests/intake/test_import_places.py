"""Importing places: every problem reported per feature, nothing written unless every row is sound."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import select, text

from core.errors import InvalidInput
from intake.coords import wgs84_to_gcj02
from blockdata.db import transaction
from intake.importers import ImportRefused, run_import
from blockdata.models import Building, Gate, KeySite
from tests import places as P
from tests.places import count

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"


def problems(report) -> dict[tuple[int, str], str]:  # noqa: ANN001
    return {(p.row, p.status): p.reason for p in report.problems}


def test_messy_buildings_dry_run_reports_every_problem_per_row(places: P.Places, tmp_path: Path) -> None:
    before = count(Building)
    out = tmp_path / "report.csv"
    report = run_import("buildings", FIX / "buildings_messy.geojson", dry_run=True, report_path=out)
    got = problems(report)
    assert (1, "rejected") not in got
    assert "Self-intersection" in got[(2, "rejected")] and "not a safe repair" in got[(2, "rejected")]
    assert "repaired with make_valid" in got[(3, "repaired")] and (3, "rejected") not in got
    assert "outside every grid" in got[(4, "rejected")]
    assert "row 1 of this file" in got[(5, "rejected")]
    assert "already in the database" in got[(6, "rejected")]
    assert "unknown grid code 320102001001999" in got[(7, "rejected")]
    assert "not closed" in got[(8, "rejected")]
    assert "floors missing" in got[(9, "rejected")]
    assert report.rejected_rows == {2, 4, 5, 6, 7, 8, 9}
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert {r["row"] for r in rows} >= {"2", "3", "4", "8"} and set(rows[0]) == {"row", "record", "field", "status", "reason"}
    assert count(Building) == before


def test_a_real_run_with_one_bad_row_writes_nothing(places: P.Places) -> None:
    before = count(Building)
    with pytest.raises(ImportRefused, match="nothing written") as err:
        run_import("buildings", FIX / "buildings_messy.geojson")
    assert len(err.value.report.rejected_rows) == 7
    assert count(Building) == before


def test_clean_buildings_are_imported_with_grid_compound_and_floors(places: P.Places) -> None:
    report = run_import("buildings", FIX / "buildings_clean.geojson")
    assert report.ok and report.summary["written"] == 3
    with transaction() as s:
        rows = {b.code: b for b in s.scalars(select(Building).where(Building.code.like("IMP-B%")))}
    assert rows["IMP-B1"].grid_id == places.grid_a1 and rows["IMP-B1"].compound_id is not None
    assert rows["IMP-B1"].floors == 6 and rows["IMP-B1"].units == 2
    assert rows["IMP-B2"].grid_id == places.grid_a2 and rows["IMP-B2"].floors == 11
    assert rows["IMP-B3"].grid_id == places.grid_b1 and rows["IMP-B3"].floors == 6  # 18 m / 3 m
    warnings = [p.reason for p in report.problems if p.status == "warning"]
    assert any("derived from height" in w for w in warnings)


def _gcj02_copy(src: Path, dst: Path) -> None:
    doc = json.loads(src.read_text())
    for f in doc["features"]:
        f["properties"]["code"] = f["properties"]["code"].replace("IMP-B", "GCJ-B")
        ring = f["geometry"]["coordinates"][0]
        f["geometry"]["coordinates"][0] = [list(wgs84_to_gcj02(x, y)) for x, y in ring]
    dst.write_text(json.dumps(doc))


def test_gcj02_source_lands_on_the_wgs84_footprint(places: P.Places, tmp_path: Path) -> None:
    gcj = tmp_path / "buildings_gcj02.geojson"
    _gcj02_copy(FIX / "buildings_clean.geojson", gcj)
    # Read as WGS84 (a GeoJSON cannot say it is GCJ-02) the footprints sit ~500 m off: B3 leaves its declared grid.
    wrong = run_import("buildings", gcj, dry_run=True)
    assert not wrong.ok
    report = run_import("buildings", gcj, crs="gcj02")
    assert report.ok
    with transaction() as s:
        dist = s.execute(text(
            "SELECT max(ST_HausdorffDistance(a.geom, b.geom)) FROM building a JOIN building b "
            "ON replace(a.code, 'GCJ-', 'IMP-') = b.code WHERE a.code LIKE 'GCJ-%'")).scalar_one()
    assert dist < 1e-7  # degrees: ~1 cm


def test_zipped_shapefile_in_projected_cgcs2000(places: P.Places, tmp_path: Path) -> None:
    frame = gpd.read_file(FIX / "buildings_clean.geojson")
    frame["code"] = frame["code"].str.replace("IMP-B", "SHP-B")
    frame = frame.set_crs(4326).to_crs(4549)  # CGCS2000 3-degree Gauss–Krüger CM 120°E
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    frame.to_file(shp_dir / "buildings.shp", engine="pyogrio")
    archive = tmp_path / "buildings.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shp_dir.iterdir():
            zf.write(part, part.name)
    report = run_import("buildings", archive)
    assert report.ok and report.summary["crs"] == "EPSG:4549" and report.summary["written"] == 3
    with transaction() as s:
        dist = s.execute(text(
            "SELECT max(ST_HausdorffDistance(a.geom, b.geom)) FROM building a JOIN building b "
            "ON replace(a.code, 'SHP-', 'IMP-') = b.code WHERE a.code LIKE 'SHP-%'")).scalar_one()
    assert dist < 1e-7


def test_geopackage_and_bare_projected_coordinates_need_a_crs(places: P.Places, tmp_path: Path) -> None:
    frame = gpd.read_file(FIX / "buildings_clean.geojson").set_crs(4326).to_crs(4549)
    frame["code"] = frame["code"].str.replace("IMP-B", "GPK-B")
    gpkg = tmp_path / "b.gpkg"
    frame.to_file(gpkg, driver="GPKG", engine="pyogrio")
    assert run_import("buildings", gpkg, dry_run=True).ok
    bare = tmp_path / "bare.geojson"
    doc = json.loads(frame.to_json())
    doc.pop("crs", None)
    bare.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match="metres, not degrees"):
        run_import("buildings", bare, dry_run=True)
    assert run_import("buildings", bare, crs="EPSG:4549", dry_run=True).ok


def test_regions_in_any_order_with_parents_derived_from_codes(places: P.Places, tmp_path: Path) -> None:
    ring = [[118.80, 32.06], [118.81, 32.06], [118.81, 32.07], [118.80, 32.07], [118.80, 32.06]]
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "320102002001", "name": "丙社区"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}},
        {"type": "Feature", "properties": {"code": "320102002", "name": "新街道"}, "geometry": None},
        {"type": "Feature", "properties": {"code": "320102009001", "name": "无父社区"}, "geometry": None},
    ]}
    path = tmp_path / "regions.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False))
    report = run_import("regions", path, dry_run=True)
    got = problems(report)
    assert report.rejected_rows == {3} and "320102009000 does not exist" in got[(3, "rejected")]


def test_the_unclosed_osm_relations_are_refused_with_a_clear_message(places: P.Places, tmp_path: Path) -> None:
    """Our own unclosed file always; the real OSM one from shared/ when it is there."""
    path = tmp_path / "unclosed.geojson"
    ring = [[118.80, 32.06], [118.81, 32.06], [118.81, 32.07], [118.80, 32.07]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "320102003000", "name": "x"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    with pytest.raises(ImportRefused, match="not closed"):
        run_import("regions", path)
    real = Path(__file__).resolve().parents[3] / "shared/geodata/osm/malformed_osm_district_relations_unclosed.geojson"
    if real.exists():
        report = run_import("regions", real, dry_run=True)
        assert report.rejected_rows == {1, 2, 3, 4, 5, 6}
        assert all("not closed" in p.reason for p in report.problems)


def test_key_sites_and_gates(places: P.Places, tmp_path: Path) -> None:
    school = [[118.812, 32.042], [118.813, 32.042], [118.813, 32.043], [118.812, 32.043], [118.812, 32.042]]
    sites = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "way/1001", "properties": {"id": "way/1001", "name": "测试小学", "amenity": "school"},
         "geometry": {"type": "Polygon", "coordinates": [school]}},
        {"type": "Feature", "properties": {"code": "KS-X", "name": "?", "amenity": "bench"},
         "geometry": {"type": "Polygon", "coordinates": [school]}},
    ]}
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps(sites, ensure_ascii=False))
    report = run_import("key_sites", path, dry_run=True)
    assert report.rejected_rows == {2} and "unknown category" in problems(report)[(2, "rejected")]
    sites["features"].pop()
    path.write_text(json.dumps(sites, ensure_ascii=False))
    run_import("key_sites", path)
    with transaction() as s:
        site = s.scalar(select(KeySite).where(KeySite.code == "OSM-W1001"))
        assert site.category.value == "school" and site.grid_id == places.grid_a2
    gates = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "XW-C001-G9", "name": "东门", "kind": "vehicle"},
         "geometry": {"type": "Point", "coordinates": [118.80701, 32.0445]}},
        {"type": "Feature", "properties": {"code": "KS-G1", "name": "校门", "key_site_code": "OSM-W1001"},
         "geometry": {"type": "Point", "coordinates": [118.8125, 32.042]}},
        {"type": "Feature", "properties": {"code": "LOST-G1", "name": "?"},
         "geometry": {"type": "Point", "coordinates": [118.90, 32.10]}},
    ]}
    path = tmp_path / "gates.geojson"
    path.write_text(json.dumps(gates, ensure_ascii=False))
    report = run_import("gates", path, dry_run=True)
    assert report.rejected_rows == {3} and "no compound within 50 m" in problems(report)[(3, "rejected")]
    gates["features"].pop()
    path.write_text(json.dumps(gates, ensure_ascii=False))
    before = count(Gate)
    run_import("gates", path)
    assert count(Gate) == before + 2


def test_real_datav_districts_convert_and_repair_safely(places: P.Places, shared_dir: Path) -> None:
    """Extra, on shared/ data: DataV GCJ-02 districts (2 self-intersecting) under a city we create first."""
    path = shared_dir / "geodata/admin/datav_320100_full_gcj02.json"
    report = run_import("regions", path, crs="gcj02", dry_run=True)
    repaired = [p for p in report.problems if p.status == "repaired"]
    assert len(repaired) == 2 and all("area changed by 0.0" in p.reason for p in repaired)
    # the file holds districts only; the city 320100000000 exists (tests/places.py), Xuanwu already too
    rejected = {p.record for p in report.problems if p.status == "rejected"}
    assert rejected == {"region 320102000000"}


def test_cli_import_dry_run(places: P.Places, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from cli import main

    out = tmp_path / "r.csv"
    assert main(["import", "buildings", str(FIX / "buildings_messy.geojson"), "--dry-run", "--report", str(out)]) == 0
    assert "9 rows, 7 rejected" in capsys.readouterr().out
    assert main(["import", "buildings", str(FIX / "buildings_messy.geojson"), "--report", str(out)]) == 2
    assert "nothing written" in capsys.readouterr().err
