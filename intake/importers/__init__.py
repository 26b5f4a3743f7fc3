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
from intake.coords import WGS84, SourceCRS, guess_projected, source_crs
from blockdata.db import session_factory
from intake.importers import buildings, places, tables
from intake.importers.context import Context, Options, Progress
from intake.importers.readers import FeatureFile, read_features, read_table
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
}
KINDS = tuple(FEATURE_KINDS) + tuple(TABLE_KINDS)

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


def run_import(
    kind: str, path: Path | str, *, crs: str | None = None, dry_run: bool = False, report_path: Path | str | None = None,
    url: str | None = None, options: Options | None = None, progress: Progress | None = None,
) -> Report:
    """Validate and (unless ``dry_run``) write one file of ``kind``; all rows or none."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown import kind {kind!r}: one of {', '.join(KINDS)}", record="import")
    path = Path(path)
    options = options or Options()
    started = time.perf_counter()
    source: Any
    if kind in FEATURE_KINDS:
        source = read_features(path, layer=options.layer)
        src = resolve_crs(crs, source)
        n = len(source.features)
    else:
        source = read_table(path)
        src = resolve_crs(crs, None)
        n = len(source)
    report = Report(kind=kind, source=path.name, rows=n)
    report.summary.update(crs=str(src), dry_run=dry_run)
    with session_factory(url)() as session:
        transaction = session.begin()
        try:
            ctx = Context(session=session, report=report, crs=src, options=options, progress=progress)
            report.summary["import_run"] = str(ctx.run_id)
            importer = FEATURE_KINDS.get(kind) or TABLE_KINDS[kind]
            written = importer(ctx, source)
            if dry_run or not report.ok:
                transaction.rollback()
            else:
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
