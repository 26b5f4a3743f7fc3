"""The base going back up (数据回流): one file for the city's data centre in a documented exchange format.

``gridpulse export base OUT.zip --user U --reason R`` writes a zip holding, for the viewer's
jurisdiction and masked for the viewer's role exactly like ``gridpulse export`` of each layer:

* ``manifest.json``: ``format`` ``gridpulse-base-exchange``, ``version`` 1, the CRS (EPSG:4326,
  WGS84), when, who and why (the watermark), and per file its layer, rows, columns and SHA-256;
* places as GeoJSON: ``regions``, ``grids``, ``compounds``, ``key_sites``, ``gates``, ``buildings``;
* tables as CSV (UTF-8, header row): ``dwellings``, ``addresses``, ``people`` (ID numbers only masked,
  names masked per role), ``tags`` (with source department, legal basis and expiry).

Codes are the ones the base uses (12-digit region codes, 15-digit grid codes, place codes); people
are identified by their pseudonymous ``pid``. The whole export is one audit entry (``export``,
subject ``base``) written in the same transaction, and every file carries the watermark.
docs/IMPORT.md describes the format.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from blockdata import audit
from core.config import local_tz
from core.errors import InvalidInput
from core.viewer import Viewer
from intake.exports import LAYERS, _columns, _plain, _rows, watermark

FORMAT = "gridpulse-base-exchange"
VERSION = 1
PLACES = ("regions", "grids", "compounds", "key_sites", "gates", "buildings")
TABLES = ("dwellings", "addresses", "people", "tags")


@dataclass(frozen=True)
class BaseExport:
    path: Path
    rows: dict[str, int]
    watermark: str


def _geojson(rows: list[dict], mark: str) -> bytes:
    features = []
    for r in rows:
        geometry = r.pop("geometry", None)
        features.append({"type": "Feature", "geometry": json.loads(geometry) if geometry else None,
                         "properties": {k: _plain(v) for k, v in r.items()}})
    return json.dumps({"type": "FeatureCollection", "watermark": mark, "features": features},
                      ensure_ascii=False).encode()


def _csv(rows: list[dict], mark: str) -> tuple[bytes, list[str]]:
    buf = io.StringIO()
    buf.write(f"# {mark}\n")
    writer = csv.writer(buf)
    cols = _columns(rows)
    writer.writerow(cols)
    for r in rows:
        writer.writerow([_plain(r[c]) for c in cols])
    return buf.getvalue().encode("utf-8"), cols


def export_base(session: Session, viewer: Viewer, path: Path | str, *, reason: str | None) -> BaseExport:
    """Write the exchange zip for ``viewer`` and audit it (one entry, same transaction)."""
    if not reason:
        raise InvalidInput("an export of the base holds people: give --reason (why it goes to the data centre)",
                           record="export base")
    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise InvalidInput(f"the exchange format is a zip: name the file …zip, not {path.name}", record="export base")
    at = dt.datetime.now(dt.timezone.utc)
    mark = watermark(viewer, at, reason)
    files, counts = [], {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in PLACES + TABLES:
            rows = _rows(session, viewer, LAYERS[name], at.astimezone(local_tz()).date())
            counts[name] = len(rows)
            if name in PLACES:
                cols = [c for c in _columns(rows)]
                data, fname = _geojson(rows, mark), f"{name}.geojson"
            else:
                data, cols = _csv(rows, mark)
                fname = f"{name}.csv"
            zf.writestr(fname, data)
            files.append({"name": fname, "layer": name, "rows": len(rows), "columns": cols,
                          "sha256": hashlib.sha256(data).hexdigest()})
        manifest = {"format": FORMAT, "version": VERSION, "crs": "EPSG:4326", "exported_at": at.isoformat(),
                    "exported_by": viewer.username, "role": viewer.role.value, "reason": reason, "watermark": mark,
                    "files": files}
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    audit.record(session, viewer, "export", "base", reason=reason, format=f"{FORMAT}/{VERSION}", rows=counts,
                 file=path.name, watermark=mark)
    return BaseExport(path, counts, mark)
