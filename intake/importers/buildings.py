"""Importer of building footprints: checked row by row in Python, written in one COPY.

A street office has tens of thousands of buildings; a validated ORM write with a savepoint per row
manages about a thousand a second. So this importer runs the registry's checks itself (code format,
floors, geometry) against grids and compounds loaded once into STR-trees, collects every problem,
and only when no row is rejected writes all rows with one COPY inside the import's transaction. The
database's CHECK constraints and unique keys still guard the COPY: whatever slips past Python is
refused there and reported as a file-level rejection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely import STRtree
from sqlalchemy import select, text

from intake.importers.context import Context, as_float, as_int, place_code, valid_place_code
from intake.importers.geometry_checks import checked
from intake.importers.osm import OSM_DEFAULT_FLOORS
from intake.importers.readers import FeatureFile, first
from intake.importers.report import WARNING
from blockdata.models import SRID

_COLUMNS = ("code", "name", "grid_id", "compound_id", "floors", "units", "height_m", "geom")


@dataclass
class _Areas:
    """Polygons of one layer (grids or compounds) with their ids and codes, indexed for containment."""

    ids: list[int]
    codes: list[str]
    geoms: list[Any]
    tree: STRtree | None

    @classmethod
    def load(cls, ctx: Context, table: str) -> "_Areas":
        rows = ctx.session.execute(text(f"SELECT id, code, ST_AsBinary(geom) FROM {table} ORDER BY id")).all()
        geoms = [shapely.from_wkb(bytes(r[2])) for r in rows]
        return cls([r[0] for r in rows], [r[1] for r in rows], geoms, STRtree(geoms) if geoms else None)

    def by_code(self, code: str) -> int | None:
        try:
            return self.codes.index(code)
        except ValueError:
            return None

    def covering(self, point: Any) -> list[int]:
        if self.tree is None:
            return []
        return [int(i) for i in self.tree.query(point, predicate="covered_by")]


def _floors(ctx: Context, props: dict[str, Any]) -> tuple[int | None, str | None]:
    floors = as_int(first(props, "floors", "building:levels", "building_l", "levels", "层数", "floor_count"))
    if floors is not None:
        return floors, None
    height = as_float(first(props, "height_m", "height", "高度"))
    if height:
        return max(1, round(height / 3.0)), f"floors derived from height {height:g} m at 3 m per floor"
    if ctx.options.default_floors:
        return ctx.options.default_floors, f"floors missing, the import's default {ctx.options.default_floors} used"
    if ctx.osm:
        return OSM_DEFAULT_FLOORS, (f"no building:levels or height in OSM: {OSM_DEFAULT_FLOORS} floors assumed "
                                    "(--default-floors to choose another; correct it when known)")
    return None, None


def import_buildings(ctx: Context, source: FeatureFile) -> int:
    report = ctx.report
    grids = _Areas.load(ctx, "grid")
    compounds = _Areas.load(ctx, "compound")
    codes_in_file = [place_code(first(f.props, "code", "id", "osm_id", "编码")) for f in source.features]
    existing = set(ctx.session.execute(
        text("SELECT code FROM building WHERE code = ANY(:codes)"), {"codes": [c for c in codes_in_file if c]}
    ).scalars())
    upsert = ctx.options.mode == "upsert"
    updates: list[tuple] = []
    seen: dict[str, int] = {}
    rows: list[tuple] = []
    total = len(source.features)
    for i, (f, code) in enumerate(zip(source.features, codes_in_file), start=1):
        ctx.tick(i, total)
        record = f"building {code or f'row {f.row}'}"
        if not code:
            report.reject(f.row, record, "code", "no building code (columns code, id or osm_id)")
            continue
        if not valid_place_code(code):
            report.reject(f.row, record, "code", "a place code has 3–32 letters, digits or hyphens")
            continue
        if code in seen:
            report.reject(f.row, record, "code", f"duplicate: the same code is on row {seen[code]} of this file")
            continue
        seen[code] = f.row
        if code in existing and not upsert:
            report.reject(f.row, record, "code", "duplicate: a building with this code is already in the database "
                                                 "(--mode upsert updates it)")
            continue
        floors, note = _floors(ctx, f.props)
        if floors is None:
            report.reject(f.row, record, "floors", "floors missing (no floors/building:levels/height; or pass --default-floors)")
            continue
        if not 1 <= floors <= 200:
            report.reject(f.row, record, "floors", f"floors must be 1–200, got {floors}")
            continue
        if note:
            report.add(f.row, record, "floors", "warning", note)
        units = as_int(first(f.props, "units", "单元数")) or 1
        if not 1 <= units <= 50:
            report.reject(f.row, record, "units", f"units must be 1–50, got {units}")
            continue
        height = as_float(first(f.props, "height_m", "height", "高度")) or floors * 3.0
        if f.error:
            report.reject(f.row, record, "geometry", f.error)
            continue
        if ctx.osm and f.geom is not None and f.geom.geom_type == "MultiPolygon" and len(f.geom.geoms) > 1:
            ctx.skip(f.row, record, "geometry", f"a multipolygon of {len(f.geom.geoms)} parts (an OSM relation): not "
                                                "imported; a building is one footprint")
            continue
        geom = checked(f.geom, kinds=("Polygon",), src=ctx.crs, row=f.row, record=record, report=report)
        if geom is None:
            continue
        point = shapely.point_on_surface(geom)
        if ctx.osm and ctx.reference is not None and not ctx.reference.covers(geom):
            ctx.skip(f.row, record, "geometry", f"outside the jurisdiction (the {ctx.reference.layer} on the map): not imported")
            continue
        grid_code = first(f.props, "grid_code", "网格编码")
        if grid_code:
            gi = grids.by_code(str(grid_code))
            if gi is None:
                report.reject(f.row, record, "grid_code", f"unknown grid code {grid_code}")
                continue
            if not grids.geoms[gi].covers(point):
                report.reject(f.row, record, "grid_code", f"the building lies outside its grid {grid_code}")
                continue
        else:
            found = grids.covering(point)
            if not found and ctx.osm:
                ctx.skip(f.row, record, "geometry", "lies in no grid: not imported (generate or import the grids first)")
                continue
            if not found:
                report.reject(f.row, record, "geometry", "the building lies outside every grid")
                continue
            gi = max(found, key=lambda k: grids.geoms[k].intersection(geom).area) if len(found) > 1 else found[0]
        compound_code = first(f.props, "compound_code", "小区编码")
        ci: int | None = None
        if compound_code:
            ci = compounds.by_code(str(compound_code))
            if ci is None:
                report.reject(f.row, record, "compound_code", f"unknown compound code {compound_code}")
                continue
        else:
            inside = compounds.covering(point)
            ci = inside[0] if inside else None
            if ci is None:
                report.add(f.row, record, "compound_code", WARNING,
                           "lies in no compound: stored in its grid only (a street-side building, or a compound "
                           "missing from the compounds layer)")
        ctx.count("buildings_in_no_compound" if ci is None else "buildings_in_a_compound")
        if note and "assumed" in note or note and "default" in note:
            ctx.count("floors_defaulted")
        name = str(first(f.props, "name", "名称") or code)
        if len(name) > 64:
            report.add(f.row, record, "name", "warning", "name longer than 64 characters, cut")
        target = updates if code in existing else rows
        target.append((code, name[:64], grids.ids[gi], compounds.ids[ci] if ci is not None else None, floors, units,
                     height, shapely.to_wkb(shapely.set_srid(geom, SRID), hex=True, include_srid=True)))
    if not report.ok:
        return 0
    changed = update_rows(ctx, updates)
    written = copy_rows(ctx, rows)
    if written and ctx.changes is not None:
        ids = ctx.session.execute(text("SELECT id FROM building WHERE code = ANY(:c) ORDER BY id"),
                                  {"c": [r[0] for r in rows]}).scalars().all()
        ctx.changes.add_created("building", list(ids))
    return written + changed


def update_rows(ctx: Context, rows: list[tuple]) -> int:
    """Upsert: existing buildings take the file's values through the ORM (so the run can restore them)."""
    from geoalchemy2.elements import WKBElement
    from geoalchemy2.shape import to_shape

    from blockdata.models import Building

    changed = 0
    for code, name, grid_id, compound_id, floors, units, height, ewkb in rows:
        b = ctx.session.scalar(select(Building).where(Building.code == code))
        new_geom = shapely.from_wkb(bytes.fromhex(ewkb))
        values = dict(name=name, grid_id=grid_id, compound_id=compound_id, floors=floors, units=units, height_m=height)
        diff = {k: v for k, v in values.items() if getattr(b, k) != v}
        if not to_shape(b.geom).equals_exact(new_geom, 1e-9):
            diff["geom"] = WKBElement(bytes.fromhex(ewkb), srid=SRID, extended=True)
        for k, v in diff.items():
            setattr(b, k, v)
        ctx.count("updated" if diff else "unchanged")
        changed += bool(diff)
    ctx.session.flush()
    return changed


def copy_rows(ctx: Context, rows: list[tuple]) -> int:
    """COPY the checked rows into building inside the import's transaction (savepoint: a refusal is reported)."""
    if not rows:
        return 0
    conn = ctx.session.connection().connection.driver_connection
    try:
        with ctx.session.begin_nested():
            with conn.cursor() as cur, cur.copy(f"COPY building ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    except Exception as exc:  # psycopg errors from constraint checks on COPY
        diag = getattr(exc, "diag", None)
        detail = (getattr(diag, "message_primary", None) or str(exc)).strip()
        where = getattr(diag, "context", None) or ""
        ctx.report.reject(0, "building (COPY)", "", f"the database refused the batch: {detail} {where}".strip())
        return 0
    return len(rows)


def ceiling_rows_per_s(ctx: Context, rows: list[tuple]) -> float:  # pragma: no cover - used by the bench
    """The same rows through a bare COPY (no checks), in a savepoint rolled back: the machine's ceiling."""
    import time

    conn = ctx.session.connection().connection.driver_connection
    nested = ctx.session.begin_nested()
    start = time.perf_counter()
    with conn.cursor() as cur, cur.copy(f"COPY building ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    seconds = time.perf_counter() - start
    nested.rollback()
    return len(rows) / seconds if seconds else float(np.inf)
