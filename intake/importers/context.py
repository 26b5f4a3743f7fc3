"""What every importer shares: the session, the report, the source CRS, options, and field helpers."""
from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core.errors import GridPulseError
from intake.coords import WGS84, SourceCRS
from intake.importers.report import SKIPPED, Report

Progress = Callable[[int, int], None]

_OSM_ID = re.compile(r"^(way|relation|node)/(\d+)$")
_PLACE_CODE = re.compile(r"^[A-Za-z0-9-]{3,32}$")


@dataclass
class Options:
    """Import options beyond the file: defaults for what sources often omit, and the clock."""

    default_floors: int | None = None
    layer: str | int | None = None
    today: dt.date = field(default_factory=dt.date.today)
    match_threshold: float = 0.85   # address matches at or above are linked, below go to review
    source: str | None = None       # "osm": an OSM export (overpass or Geofabrik); "file": not; None: detect
    mode: str = "insert"            # "insert": a code already there is refused; "upsert": it is updated
    utility: str | None = None      # utility readings without a kind column: water, electricity or gas


@dataclass
class Context:
    session: Session
    report: Report
    crs: SourceCRS = WGS84
    options: Options = field(default_factory=Options)
    progress: Progress | None = None
    run_id: uuid.UUID = field(default_factory=uuid.uuid4)  # this import run (address_review.import_run)
    osm: str | None = None          # the OSM flavour ("overpass", "geofabrik") when the file is an OSM export
    reference: Any = None           # intake.importers.area.Reference: the map already there (None when empty)
    changes: Any = None             # intake.importers.runs.Changes: rows written outside the ORM are added here

    def count(self, name: str, n: int = 1) -> None:
        """A tally the report's summary carries (``unchanged``, ``buildings_in_no_compound`` …)."""
        self.report.summary[name] = self.report.summary.get(name, 0) + n

    def skip(self, row: int, record: str, field_: str, reason: str) -> None:
        """A feature of an OSM export that is not placed (outside the jurisdiction, …): said, not refused."""
        self.report.add(row, record, field_, SKIPPED, reason)
        self.count("skipped")

    def tick(self, done: int, total: int) -> None:
        if self.progress is not None and (done == total or done % 500 == 0):
            self.progress(done, total)

    @contextmanager
    def row(self, row: int, record: str) -> Iterator[None]:
        """Run one row's write; a typed refusal becomes a report line instead of stopping the import."""
        try:
            yield
        except GridPulseError as exc:
            self.report.reject(row, exc.record or record, _field_of(exc), exc.reason)


def _field_of(exc: GridPulseError) -> str:
    name = type(exc).__name__
    return {"InvalidGeometry": "geometry", "BadCodeFormat": "code", "DuplicateCode": "code", "NotFound": "reference",
            "OutsideParent": "geometry"}.get(name, "")


def place_code(value: Any) -> str | None:
    """A place code from a source id: OSM's ``way/123`` becomes ``OSM-W123``; numbers become strings."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    m = _OSM_ID.match(text)
    if m:
        return f"OSM-{m.group(1)[0].upper()}{m.group(2)}"
    if text.isdigit() and len(text) > 6:
        return f"OSM-{text}"  # a bare osm_id (Geofabrik schema)
    return text or None


def valid_place_code(code: str | None) -> bool:
    return bool(code) and bool(_PLACE_CODE.match(code))


def as_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else None
    m = re.match(r"^\s*(-?\d+)(\.0+)?\s*$", str(value))
    return int(m.group(1)) if m else None


def as_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    m = re.match(r"^\s*(-?\d+(?:\.\d+)?)\s*(m|米)?\s*$", str(value))
    return float(m.group(1)) if m else None


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")


def as_date(value: Any) -> dt.date | None:
    """A date from ISO text, 2024/5/1, 20240501, 2024年5月1日 or a spreadsheet date; None if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
