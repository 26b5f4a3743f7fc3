"""Importing a street office's own files: validate every row, then write all of them or none.

``run_import(kind, path)`` reads the file (features: GeoJSON, zipped Shapefile, GeoPackage; tables:
CSV, xlsx), converts coordinates to WGS84 from the declared or file CRS, checks every row and writes
through the registry's validated writers inside one transaction. Every problem becomes a line of
the validation report instead of an exception, so one run tells a person everything that is wrong.
A dry run always rolls back; a real run commits only when no row was rejected, and otherwise raises
ImportRefused carrying the report. The dashboard's admin page can pass ``progress`` to drive its bar.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from core.viewer import SYSTEM, Viewer
from intake.coords import WGS84, SourceCRS, guess_projected, source_crs
from blockdata.db import session_factory
from intake.importers import buildings, crs_fit, departments, osm, places, runs, tables
from intake.importers.area import load_reference
from intake.importers.columns import header_problems
from intake.importers.context import Context, Options, Progress
from intake.importers.readers import (
    FEATURE_SUFFIXES, TABLE_SUFFIXES, FeatureFile, read_features, read_headers, read_table,
)
from intake.importers.report import ImportRefused, Report

FEATURE_KINDS: dict[str, Callable[[Context, FeatureFile], int]] = {
    "regions": places.import_regions,
    "grids": places.import_grids,
    "compounds": places.import_compounds,
    "key_sites": places.import_key_sites,
    "gates": places.import_gates,
    "buildings": buildings.import_buildings,
}
TABLE_KINDS: dict[str, Callable[[Context, list], int]] = {
    "addresses": tables.import_addresses,
    "dwellings": tables.import_dwellings,
    "people": tables.import_people,
    "ownership": tables.import_ownership,
    "rentals": tables.import_rentals,
    "tags": departments.import_tags,
    "utility": departments.import_utility,
    "fees": departments.import_fees,
    "organisations": departments.import_organisations,
    "employees": departments.import_employees,
}
KINDS = tuple(FEATURE_KINDS) + tuple(TABLE_KINDS)
# What each kind is called on the admin page 导入 (every kind has one).
KIND_LABELS = {
    "regions": "行政区划", "grids": "网格", "compounds": "小区", "key_sites": "重点场所", "gates": "门禁",
    "buildings": "楼栋", "addresses": "地址", "dwellings": "房屋", "people": "人口", "ownership": "产权", "rentals": "租赁",
    "tags": "部门名单：人员标签", "utility": "水电气读数", "fees": "物业费", "organisations": "单位", "employees": "从业人员",
}
MODES = ("insert", "upsert")
UPSERT_KINDS = ("regions", "compounds", "key_sites", "buildings")

__all__ = ["KINDS", "ImportRefused", "Options", "Report", "run_import", "resolve_crs"]


def resolve_crs(declared: str | None, source: FeatureFile | None) -> SourceCRS:
    """``--crs`` wins; else the file's own CRS; a file without one whose numbers are metres must say which."""
    if declared:
        return source_crs(declared)
    if source is None:
        return WGS84
    crs = source_crs(source.declared_crs) if source.declared_crs else WGS84
    sample = next((f.geom for f in source.features if f.geom is not None and not f.geom.is_empty), None)
    if sample is not None and crs == WGS84:
        x, y = sample.representative_point().coords[0]
        if abs(x) > 180 or abs(y) > 90:
            guessed = guess_projected(x, y)
            if guessed is None:
                raise InvalidInput(
                    f"coordinates such as ({x:.0f}, {y:.0f}) are metres, not degrees, and the file declares no "
                    "projected CRS: pass --crs (e.g. EPSG:4549 for CGCS2000 Gauss–Krüger 120°E)",
                    record=source.path.name,
                )
            return guessed
    return crs


def _refuse_wrong_file_type(kind: str, path: Path) -> None:
    """A table given to a kind that needs geometry (or a map to a table kind): one line, before reading."""
    suffix = path.suffix.lower()
    if kind in FEATURE_KINDS and kind != "regions" and suffix in TABLE_SUFFIXES:  # regions may be a bare code list
        raise InvalidInput(
            f"{kind} need geometry and a {suffix[1:].upper()} file has none: give a GeoJSON, zipped Shapefile or "
            f"GeoPackage (e.g. export the layer from QGIS as GeoJSON)", record=path.name)
    if kind in TABLE_KINDS and suffix in FEATURE_SUFFIXES:
        raise InvalidInput(f"{kind} are a table: give a CSV or xlsx file, not {suffix[1:]}", record=path.name)


def _osm_selection(kind: str, source: FeatureFile, options: Options) -> tuple[FeatureFile, str | None, dict]:
    """The features of an OSM export that belong to ``kind`` (all features of any other file)."""
    flavour = None if options.source == "file" else osm.detect(source)
    if options.source == "osm" and flavour is None:
        raise InvalidInput("--source osm, but the file is not an OSM export: no overpass ids (way/123) and no "
                           "Geofabrik osm_id + fclass columns; leave out --source for a file of your own",
                           record=source.path.name)
    if flavour is None or kind not in osm.OSM_KINDS:
        return source, flavour, {}
    chosen = osm.select(kind, source, flavour)
    kept = FeatureFile(path=source.path, declared_crs=source.declared_crs, features=chosen.kept)
    return kept, flavour, dict(chosen.left_out.most_common())


def run_import(
    kind: str, path: Path | str, *, crs: str | None = None, dry_run: bool = False, report_path: Path | str | None = None,
    url: str | None = None, options: Options | None = None, progress: Progress | None = None,
    viewer: Viewer | None = None,
) -> Report:
    """Validate and (unless ``dry_run``) write one file of ``kind``; all rows or none.

    A written run is recorded (``import_run``: who, file, counts, what it created or changed) so that
    ``gridpulse import undo RUN`` can take it back, and audited as ``import`` by ``viewer``.
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown import kind {kind!r}: one of {', '.join(KINDS)}", record="import")
    path = Path(path)
    options = options or Options()
    if options.mode not in MODES:
        raise InvalidInput(f"unknown mode {options.mode!r}: insert or upsert", record="--mode")
    if options.mode == "upsert" and kind not in UPSERT_KINDS:
        raise InvalidInput(f"--mode upsert is not available for {kind}: one of {', '.join(UPSERT_KINDS)}",
                           record="--mode")
    if not path.exists():
        raise InvalidInput("file not found", record=str(path))
    _refuse_wrong_file_type(kind, path)
    started = time.perf_counter()
    source: Any
    flavour, left_out = None, {}
    if kind in FEATURE_KINDS:
        source = read_features(path, layer=options.layer)
        source, flavour, left_out = _osm_selection(kind, source, options)
        src = resolve_crs(crs, source)
        n = len(source.features)
        headers = sorted({k for f in source.features for k in f.props})
    else:
        source = read_table(path)
        src = resolve_crs(crs, None)
        n = len(source)
        headers = read_headers(path)
    report = Report(kind=kind, source=path.name, rows=n)
    report.summary.update(crs=str(src), dry_run=dry_run, mode=options.mode)
    if flavour:
        report.summary.update(osm=flavour, osm_left_out=left_out)
    if flavour is None:
        for column, reason in header_problems(kind, headers, table=kind in TABLE_KINDS):
            report.reject(1 if kind in TABLE_KINDS else 0, path.name, column, reason)
    with session_factory(url)() as session:
        transaction = session.begin()
        try:
            ctx = Context(session=session, report=report, crs=src, options=options, progress=progress, osm=flavour)
            report.summary["import_run"] = str(ctx.run_id)
            if kind in FEATURE_KINDS:
                ctx.reference = load_reference(session)
                if crs is None:
                    problem = crs_fit.check([f.geom for f in source.features], ctx.reference, src)
                    if problem:
                        report.reject(0, path.name, "crs", problem)
            importer = FEATURE_KINDS.get(kind) or TABLE_KINDS[kind]
            with runs.tracking(session) as changes:
                ctx.changes = changes
                written = importer(ctx, source)
            if dry_run or not report.ok:
                transaction.rollback()
            else:
                report.summary["written"] = written
                runs.record(session, ctx, path=path, viewer=viewer or SYSTEM, changes=changes)
                transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
    report.summary["written"] = written if report.ok and not dry_run else 0
    report.summary["valid_rows"] = n - len(report.rejected_rows)
    report.summary["seconds"] = round(time.perf_counter() - started, 3)
    if report_path is not None:
        report.to_csv(report_path)
    if not dry_run and not report.ok:
        raise ImportRefused(report)
    return report
