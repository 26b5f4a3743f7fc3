"""Exports of a layer or list as GeoJSON, CSV or xlsx: filtered to the viewer, masked, audited, watermarked.

An export is a read of personal data that leaves the system, so it goes through the same rules as
a query: only the viewer's jurisdiction (grids by code prefix), names masked for roles that may not
see them (blockdata.masking), ID numbers cut to their region prefix and ages instead of birth dates
(so no row narrows an ID number below 10⁴ candidates: intake/reidentification.py), and one audit-log entry
written in the same transaction. Every file carries a watermark naming who exported it, when and
why, so a leaked copy can be traced: a top-level ``watermark`` member in GeoJSON, a first comment
line in CSV, and the first row plus the document properties in xlsx.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.viewer import Role, Viewer
from blockdata import audit
from blockdata.masking import name_for
from blockdata.queries import deny
from core.config import local_tz
from intake.reidentification import export_mask

FORMATS = ("geojson", "csv", "xlsx")


@dataclass(frozen=True)
class Layer:
    """One exportable layer: its SQL (filtered by :patterns on a grid/region code) and whether it names people."""

    sql: str
    personal: bool = False
    roles: frozenset[Role] = frozenset(Role)


_GRID_OF_BUILDING = "(SELECT g.code FROM grid g WHERE g.id = b.grid_id)"

LAYERS: dict[str, Layer] = {
    "regions": Layer("SELECT code, name, level::text AS level, parent_code, ST_AsGeoJSON(geom) AS geometry FROM region "
                     "WHERE code LIKE ANY(:patterns) OR :admin ORDER BY code"),
    "grids": Layer("SELECT code, name, community_code, ST_AsGeoJSON(geom) AS geometry FROM grid "
                   "WHERE code LIKE ANY(:patterns) ORDER BY code"),
    "compounds": Layer("SELECT c.code, c.name, c.community_code, ST_AsGeoJSON(c.geom) AS geometry FROM compound c "
                       "WHERE c.community_code LIKE ANY(:patterns) OR :admin ORDER BY c.code"),
    "buildings": Layer(f"SELECT b.code, b.name, {_GRID_OF_BUILDING} AS grid_code, b.floors, b.units, b.height_m, "
                       f"ST_AsGeoJSON(b.geom) AS geometry FROM building b WHERE {_GRID_OF_BUILDING} LIKE ANY(:patterns) "
                       "ORDER BY b.code"),
    "gates": Layer("SELECT t.code, t.name, t.kind::text AS kind, c.code AS compound_code, ST_AsGeoJSON(t.geom) AS geometry "
                   "FROM gate t LEFT JOIN compound c ON c.id = t.compound_id "
                   "WHERE c.community_code LIKE ANY(:patterns) OR :admin ORDER BY t.code"),
    "key_sites": Layer("SELECT k.code, k.name, k.category::text AS category, k.capacity, ST_AsGeoJSON(k.geom) AS geometry "
                       "FROM key_site k LEFT JOIN grid g ON g.id = k.grid_id "
                       "WHERE g.code LIKE ANY(:patterns) OR :admin ORDER BY k.code"),
    "addresses": Layer("SELECT a.code, a.kind::text AS kind, a.full_text, a.district, a.street, a.road, a.number, a.compound, "
                       "a.building, a.unit, a.floor, a.room, s.code AS standard_code, ST_AsGeoJSON(a.geom) AS geometry "
                       "FROM address a LEFT JOIN address s ON s.id = a.standard_id "
                       "WHERE a.region_code LIKE ANY(:patterns) OR :admin ORDER BY a.code"),
    # No birth date beside an ID number: the ID shows only its region prefix and the age replaces the birth
    # date, leaving ≥ 10⁴ candidate ID numbers per row (intake/reidentification.py).
    "people": Layer(
        "SELECT p.pid::text AS pid, p.name, p.id_masked, p.sex::text AS sex, "
        "date_part('year', age(CAST(:today AS date), p.birth_date))::int AS age, "
        "p.residence_kind::text AS residence_kind, d.code AS dwelling_code, g.code AS grid_code, "
        "ST_AsGeoJSON(ST_PointOnSurface(b.geom)) AS geometry "
        "FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id "
        "JOIN grid g ON g.id = b.grid_id WHERE g.code LIKE ANY(:patterns) ORDER BY g.code, d.code, p.id",
        personal=True,
    ),
    "dwellings": Layer(
        "SELECT d.code, b.code AS building_code, d.unit, d.floor, d.room, d.area_m2, d.rooms, d.use::text AS use, "
        "a.code AS address_code FROM dwelling d JOIN building b ON b.id = d.building_id "
        "JOIN grid g ON g.id = b.grid_id LEFT JOIN address a ON a.id = d.address_id "
        "WHERE g.code LIKE ANY(:patterns) ORDER BY d.code"),
    "tags": Layer(
        "SELECT p.pid::text AS pid, p.id_masked, t.tag::text AS tag, t.source_department, t.legal_basis, "
        "t.legal_basis_expiry FROM person_tag t JOIN person p ON p.id = t.person_id "
        "LEFT JOIN dwelling d ON d.id = p.home_dwelling_id LEFT JOIN building b ON b.id = d.building_id "
        "LEFT JOIN grid g ON g.id = b.grid_id WHERE g.code LIKE ANY(:patterns) OR :admin ORDER BY p.pid, t.tag",
        personal=True,
    ),
}


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    watermark: str


def watermark(viewer: Viewer, at: dt.datetime, reason: str | None) -> str:
    who = f"{viewer.username} ({viewer.role.value}{', account ' + str(viewer.account_id) if viewer.account_id else ''})"
    why = f"; reason: {reason}" if reason else ""
    return f"GridPulse export by {who} at {at.isoformat(timespec='seconds')}{why}. Contains data under access control."


def _rows(session: Session, viewer: Viewer, layer: Layer, today: dt.date) -> list[dict[str, Any]]:
    params = {"patterns": viewer.like_patterns, "admin": viewer.role is Role.admin, "today": today}
    rows = [dict(r) for r in session.execute(text(layer.sql), params).mappings()]
    if layer.personal:
        for r in rows:
            if "name" in r:
                r["name"] = name_for(viewer, r["name"])
            if "id_masked" in r:
                r["id_masked"] = export_mask(r["id_masked"])  # the region prefix only: see intake/reidentification.py
    return rows


def export_layer(
    session: Session, viewer: Viewer, layer_name: str, path: Path | str, *, fmt: str | None = None,
    reason: str | None = None, now: Callable[[], dt.datetime] | None = None,
) -> ExportResult:
    """Write one layer for ``viewer`` to ``path`` and record it in the audit log (same transaction)."""
    layer = LAYERS.get(layer_name)
    if layer is None:
        raise InvalidInput(f"unknown layer {layer_name!r}: one of {', '.join(LAYERS)}", record="export")
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt == "json":
        fmt = "geojson"
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: geojson, csv or xlsx", record="export")
    if viewer.role not in layer.roles:
        raise deny(session, viewer, f"layer:{layer_name}", f"role {viewer.role.value} may not export {layer_name}")
    if layer.personal and not reason:
        raise InvalidInput("an export of people needs a stated reason", record="export")
    at = (now or (lambda: dt.datetime.now(dt.timezone.utc)))()
    mark = watermark(viewer, at, reason)
    rows = _rows(session, viewer, layer, at.astimezone(local_tz()).date())
    {"geojson": _write_geojson, "csv": _write_csv, "xlsx": _write_xlsx}[fmt](path, rows, mark)
    who = {"people": [r["pid"] for r in rows]} if layer.personal else {}  # who left the system, not only how many
    audit.record(session, viewer, "export", f"layer:{layer_name}", reason=reason, format=fmt, rows=len(rows), **who,
                 file=path.name, watermark=mark)
    return ExportResult(path, len(rows), mark)


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "__float__") and not isinstance(value, (int, float, bool)):
        return float(value)
    return value


def _write_geojson(path: Path, rows: list[dict[str, Any]], mark: str) -> None:
    features = []
    for r in rows:
        geometry = r.pop("geometry", None)
        features.append({"type": "Feature", "geometry": json.loads(geometry) if geometry else None,
                         "properties": {k: _plain(v) for k, v in r.items()}})
    doc = {"type": "FeatureCollection", "watermark": mark, "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return [k for k in rows[0] if k != "geometry"] if rows else []


def _write_csv(path: Path, rows: list[dict[str, Any]], mark: str) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        fh.write(f"# {mark}\n")
        writer = csv.writer(fh)
        cols = _columns(rows)
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_plain(r[c]) for c in cols])


def _write_xlsx(path: Path, rows: list[dict[str, Any]], mark: str) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "export"
    ws.append([mark])
    cols = _columns(rows)
    ws.append(cols)
    for r in rows:
        ws.append([_plain(r[c]) for c in cols])
    wb.properties.creator = "GridPulse"
    wb.properties.description = mark
    wb.properties.title = mark[:250]
    wb.save(path)
