"""Exports: filtered to the viewer, names masked by role, audited, and watermarked in every format."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from core.errors import InvalidInput
from core.viewer import SYSTEM, Role, Viewer
from blockdata.db import transaction
from intake.exports import export_layer
from blockdata.models import AuditLog
from tests import places as P
from tests.audit import AuditMark

AT = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone.utc)
STREET_VIEWER = Viewer(7, Role.street, (P.STREET,), "street_ops")
WORKER_B = Viewer(8, Role.worker, (P.COMMUNITY_B,), "worker_b")


def test_people_csv_is_masked_for_the_street_role_audited_and_watermarked(places: P.Places, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    mark = AuditMark()
    with transaction() as s:
        result = export_layer(s, STREET_VIEWER, "people", path, reason="月度核查", now=lambda: AT)
    text = path.read_text(encoding="utf-8-sig")
    first_line = text.splitlines()[0]
    assert first_line.startswith("# GridPulse export by street_ops (street, account 7) at 2026-03-01T09:30:00+00:00")
    assert "月度核查" in first_line
    assert result.rows == 2 and "王*国" in text and "王建国" not in text
    assert places.id_number_a not in text and "3201**********" in text
    [entry] = mark.rows(action="export")
    assert entry.subject == "layer:people" and entry.username == "street_ops" and entry.reason == "月度核查"
    assert entry.detail["rows"] == 2 and entry.detail["watermark"] == result.watermark


def test_jurisdiction_limits_what_a_worker_exports(places: P.Places, tmp_path: Path) -> None:
    path = tmp_path / "buildings.geojson"
    with transaction() as s:
        export_layer(s, WORKER_B, "buildings", path, now=lambda: AT)
    doc = json.loads(path.read_text())
    assert doc["watermark"].startswith("GridPulse export by worker_b (worker")
    assert [f["properties"]["code"] for f in doc["features"]] == ["XW-B101"]
    assert doc["features"][0]["geometry"]["type"] == "Polygon"


def test_xlsx_carries_the_watermark_and_full_names_for_police(places: P.Places, tmp_path: Path) -> None:
    path = tmp_path / "people.xlsx"
    police = Viewer(9, Role.police, ("320102000000",), "police_1")
    with transaction() as s:
        export_layer(s, police, "people", path, reason="案件 2026-17", now=lambda: AT)
    ws = load_workbook(path).active
    assert str(ws["A1"].value).startswith("GridPulse export by police_1 (police")
    names = {row[1] for row in ws.iter_rows(min_row=3, values_only=True)}
    assert "王建国" in names
    assert load_workbook(path).properties.description.startswith("GridPulse export by police_1")


def test_people_need_a_reason_and_layers_must_exist(places: P.Places, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="reason"), transaction() as s:
        export_layer(s, SYSTEM, "people", tmp_path / "p.csv")
    with pytest.raises(InvalidInput, match="unknown layer"), transaction() as s:
        export_layer(s, SYSTEM, "secrets", tmp_path / "p.csv")
    with transaction() as s:
        r = export_layer(s, SYSTEM, "grids", tmp_path / "g.csv")
    assert r.rows == 3
