"""Reading source files feature by feature, so one broken feature is reported, not fatal.

``geopandas.read_file`` builds every geometry at once and fails the whole file on the first
unclosed ring. Here GDAL (through pyogrio's raw reader) hands over each feature's WKB, and each is
turned into a shapely geometry on its own: a broken one becomes a per-feature error in the
validation report while the rest are still checked. Tables (CSV, xlsx) are read as text so that
leading zeros of codes and ID numbers survive.
"""
from __future__ import annotations

import datetime as dt
import math
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from core.errors import InvalidInput

FEATURE_SUFFIXES = (".geojson", ".json", ".zip", ".gpkg", ".shp")
TABLE_SUFFIXES = (".csv", ".xlsx", ".txt")


@dataclass
class Feature:
    """One feature: its 1-based position in the file, its attributes, and its geometry or why not."""

    row: int
    props: dict[str, Any]
    geom: BaseGeometry | None
    error: str | None = None


@dataclass
class FeatureFile:
    path: Path
    declared_crs: str | None
    features: list[Feature] = field(default_factory=list)


def _plain(value: Any) -> Any:
    """numpy scalars and NaN as plain Python values (None for missing)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _gdal_path(path: Path) -> str:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            shps = [n for n in zf.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX")]
            gpkgs = [n for n in zf.namelist() if n.lower().endswith(".gpkg")]
        inner = (shps or gpkgs or [None])[0]
        if inner is None:
            raise InvalidInput("the zip holds no .shp or .gpkg file", record=path.name)
        return f"/vsizip/{path.resolve()}/{inner}"
    return str(path)


def _closure_problem(wkb: bytes) -> str:
    return "a ring is not closed (its first and last points differ); closing it would invent an edge, so it is rejected"


def read_features(path: Path | str, *, layer: str | int | None = None) -> FeatureFile:
    """Every feature of a GeoJSON, zipped Shapefile or GeoPackage, each parsed on its own."""
    import pyogrio
    import pyogrio.raw

    path = Path(path)
    if not path.exists():
        raise InvalidInput("file not found", record=str(path))
    # Read unclosed rings as they are, so that the geometry checks can report them by row.
    pyogrio.set_gdal_config_options({"OGR_GEOMETRY_ACCEPT_UNCLOSED_RING": "YES"})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta, _fids, geometries, field_data = pyogrio.raw.read(_gdal_path(path), layer=layer)
    except InvalidInput:
        raise
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, …
        raise InvalidInput(f"cannot read the file as GeoJSON, Shapefile or GeoPackage: {exc}", record=path.name) from exc
    names = [str(n) for n in meta["fields"]]
    out = FeatureFile(path=path, declared_crs=meta.get("crs"))
    columns = [list(col) for col in field_data]
    for i, wkb in enumerate(geometries):
        props = {name: _plain(columns[j][i]) for j, name in enumerate(names)}
        geom, error = None, None
        if wkb is not None:
            try:
                geom = shapely.from_wkb(wkb)
            except Exception as exc:  # shapely.errors.GEOSException
                text = str(exc)
                error = _closure_problem(wkb) if "closed" in text else f"unreadable geometry: {text}"
        out.features.append(Feature(row=i + 1, props=props, geom=geom, error=error))
    return out


# --- tables ---------------------------------------------------------------------------------------


@dataclass
class TableRow:
    row: int            # the line number a spreadsheet shows (the header is line 1)
    values: dict[str, Any]


def _cell(value: Any) -> Any:
    value = _plain(value)
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0) else value
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def read_table(path: Path | str, *, sheet: str | int = 0) -> list[TableRow]:
    """Rows of a CSV (UTF-8 or GB18030) or an xlsx sheet, headers lower-cased and trimmed."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InvalidInput("file not found", record=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
        else:
            try:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            except UnicodeDecodeError:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030")
    except Exception as exc:  # pandas/openpyxl raise many types on a broken file
        raise InvalidInput(f"cannot read the table: {exc}", record=path.name) from exc
    headers = [str(c).strip().lower() for c in frame.columns]
    rows: list[TableRow] = []
    for i, values in enumerate(frame.itertuples(index=False, name=None)):
        cells = {h: _cell(v) for h, v in zip(headers, values)}
        if all(v is None for v in cells.values()):
            continue  # blank spreadsheet lines are not rows
        rows.append(TableRow(row=i + 2, values=cells))
    return rows


def iter_nonempty(values: dict[str, Any], *names: str) -> Iterator[Any]:
    for name in names:
        if values.get(name) not in (None, ""):
            yield values[name]


def first(values: dict[str, Any], *names: str) -> Any:
    """The first non-empty value among alternative column names (English or Chinese headers)."""
    return next(iter_nonempty(values, *names), None)
