"""Imports that can be repeated and undone, audited from the command line, and wrong files said in one line."""
from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from blockdata import registry
from blockdata.db import transaction
from blockdata.models import AuditLog, Building, Compound, Dwelling, ImportRun, KeySite, Region, RegionLevel
from cli import main
from core.errors import InvalidInput
from intake.importers import Options, run_import
from intake.importers.runs import undo
from core.viewer import SYSTEM
from tests.intake import osm_map
from tests.places import count

OVERPASS = "geodata/osm/nanjing_osm_overpass_2018_gulou_xuanwu.geojson"
LANDUSE = "geodata/osm/poi86_osm_landuse_gulou_xuanwu.geojson"


@pytest.fixture(scope="module")
def the_map(database_url: str, shared_dir: Path) -> osm_map.OsmMap:
    with transaction() as s:
        return osm_map.build(s, shared_dir)


@pytest.fixture(scope="module")
def admin(the_map: osm_map.OsmMap) -> str:
    assert main(["accounts", "create", "osm-admin", "--role", "admin", "--generate"]) == 0
    _set_password("osm-admin")
    return "osm-admin"


PASSWORD = "osm-test-pass-2026"


def _set_password(username: str) -> None:
    """The generated password was shown once on the console; the test gives the account one it knows."""
    from blockdata.models import Account
    from core.passwords import hash_password

    with transaction() as s:
        s.scalar(select(Account).where(Account.username == username)).password_hash = hash_password(PASSWORD)


def as_account(monkeypatch, argv: list[str]) -> int:  # noqa: ANN001
    """Run a command ``--user ACCOUNT`` as its owner would: the password typed on stdin (--password-stdin)."""
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    return main([*argv, "--password-stdin"])


def run_of(report) -> ImportRun:  # noqa: ANN001
    with transaction() as s:
        return s.get(ImportRun, uuid.UUID(report.summary["import_run"]))


def test_the_same_file_twice_in_upsert_mode_changes_nothing_and_each_run_is_undone(
        the_map: osm_map.OsmMap, shared_dir: Path) -> None:
    first = run_import("compounds", shared_dir / LANDUSE)
    n = first.summary["written"]
    assert n > 20
    with pytest.raises(InvalidInput, match=r"upsert updates it"):  # insert mode: the codes are there already
        run_import("compounds", shared_dir / LANDUSE)
    again = run_import("compounds", shared_dir / LANDUSE, options=Options(mode="upsert"))
    assert again.summary["written"] == 0 and again.summary["unchanged"] == n
    assert run_of(again).counts["updated"] == {} and run_of(again).created == {}
    # a changed name in a second vintage of the file is updated, and undoing that run restores it
    doc = json.loads((shared_dir / LANDUSE).read_text())
    target = next(f for f in doc["features"] if f["properties"]["name"] == "清河新寓二村")
    target["properties"]["name"] = "清河新寓二村（改）"
    edited = Path(tempfile.mkdtemp()) / "landuse_v2.geojson"  # shared/ is read-only
    edited.write_text(json.dumps(doc, ensure_ascii=False))
    upd = run_import("compounds", edited, options=Options(mode="upsert"))
    assert upd.summary["written"] == 1 and upd.summary["unchanged"] == n - 1
    with transaction() as s:
        assert s.scalar(select(Compound.name).where(Compound.code == "OSM-" + target["properties"]["osm_id"])) == "清河新寓二村（改）"
        undo(s, upd.summary["import_run"], SYSTEM)
    with transaction() as s:
        assert s.scalar(select(Compound.name).where(Compound.code == "OSM-" + target["properties"]["osm_id"])) == "清河新寓二村"
        assert s.scalar(select(func.count()).select_from(Compound)) == n
        with pytest.raises(InvalidInput, match="already undone"):
            undo(s, upd.summary["import_run"], SYSTEM)


def test_undo_refuses_while_something_depends_on_the_run(the_map: osm_map.OsmMap, shared_dir: Path) -> None:
    sites = run_import("key_sites", shared_dir / OVERPASS)
    buildings = run_import("buildings", shared_dir / OVERPASS)
    with transaction() as s:
        b = s.scalar(select(Building).where(Building.code == "OSM-W377938022"))
        registry.add_dwelling(s, code="DEP-1", building_id=b.id, unit=1, floor=1, room="101", area_m2=80)
    before = count(Building)
    with transaction() as s, pytest.raises(InvalidInput, match=r"1 dwelling row\(s\) refer to its building"):
        undo(s, buildings.summary["import_run"], SYSTEM)
    assert count(Building) == before  # nothing changed
    with transaction() as s:
        s.execute(Dwelling.__table__.delete().where(Dwelling.code == "DEP-1"))
    with transaction() as s:
        undo(s, buildings.summary["import_run"], SYSTEM)
        undo(s, sites.summary["import_run"], SYSTEM)
    assert count(Building) == before - buildings.summary["written"] == 0
    assert count(KeySite) == 0


def test_command_line_imports_are_recorded_audited_and_undone_by_the_account(
        admin: str, shared_dir: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    rc = as_account(monkeypatch, ["import", "key_sites", str(shared_dir / OVERPASS), "--user", admin])
    out = capsys.readouterr().out
    assert rc == 0
    run_id = json.loads(out.strip().splitlines()[-1])["import_run"]
    with transaction() as s:
        run = s.get(ImportRun, uuid.UUID(run_id))
        assert run.username == admin and run.source == Path(OVERPASS).name and len(run.file_sha256) == 64
        entry = s.scalar(select(AuditLog).where(AuditLog.action == "import", AuditLog.detail["import_run"].astext == run_id))
        assert entry.username == admin and entry.detail["written"] == run.counts["written"] > 0
    assert main(["import", "runs"]) == 0
    assert run_id in capsys.readouterr().out
    assert as_account(monkeypatch, ["import", "undo", run_id[:8], "--user", admin]) == 0
    assert "undone" in capsys.readouterr().out
    with transaction() as s:
        undone = s.scalar(select(AuditLog).where(AuditLog.action == "import.undo",
                                                 AuditLog.detail["import_run"].astext == run_id))
        assert undone.username == admin
    assert count(KeySite) == 0


def test_a_non_admin_cannot_import(admin: str, shared_dir: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    assert main(["accounts", "create", "osm-worker", "--role", "worker", "--area", "320106001001001", "--generate"]) == 0
    _set_password("osm-worker")
    capsys.readouterr()
    before = count(KeySite)
    assert as_account(monkeypatch, ["import", "key_sites", str(shared_dir / OVERPASS), "--user", "osm-worker"]) == 2
    assert "imports are for admins" in capsys.readouterr().err and count(KeySite) == before


@pytest.mark.parametrize(("kind", "name", "content", "message"), [
    ("buildings", "b.csv", "code,name\nB1,x\n", "buildings need geometry and a CSV file has none"),
    ("people", "p.geojson", '{"type": "FeatureCollection", "features": []}', "people are a table: give a CSV or xlsx"),
    ("people", "empty.csv", "", "cannot read the table"),
])
def test_a_wrong_file_is_one_line_never_a_traceback(the_map: osm_map.OsmMap, tmp_path: Path, capsys, kind: str,
                                                     name: str, content: str, message: str) -> None:  # noqa: ANN001
    path = tmp_path / name
    path.write_text(content)
    assert main(["import", kind, str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_dry_run_reports_the_header_the_code_lengths_and_every_row(the_map: osm_map.OsmMap, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("身份正号,姓名,性别\n320102199001011234,张三,男\n,李四,女\n", encoding="utf-8")
    report = run_import("people", people, dry_run=True)
    header = [p for p in report.problems if p.row == 1]
    assert any("unknown column '身份正号'" in p.reason and "did you mean '身份证号'" in p.reason for p in header)
    assert any("no column id_number" in p.reason for p in header)
    assert {2, 3} <= report.rejected_rows  # the rows were still checked
    regions = tmp_path / "regions.geojson"
    regions.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "32010600", "name": "八位"}, "geometry": None},
        {"type": "Feature", "properties": {"code": "3201060010011", "name": "十三位"}, "geometry": None},
        {"type": "Feature", "properties": {"code": "320106001003", "name": "好社区"}, "geometry": None}]},
        ensure_ascii=False))
    report = run_import("regions", regions, dry_run=True)
    reasons = {p.row: p.reason for p in report.problems if p.status == "rejected"}
    assert "has 8 digits" in reasons[1] and "6 (district), 9 (street) or 12 (community)" in reasons[1]
    assert "has 13 digits" in reasons[2] and 3 not in reasons
    with transaction() as s:
        assert s.get(Region, "320106001003") is None  # a dry run writes nothing


def test_two_vintages_of_the_official_codes_are_reported(the_map: osm_map.OsmMap, shared_dir: Path, tmp_path: Path) -> None:
    with transaction() as s:  # the 2016 name (Vonng), and Xuanwu, whose streets the 2022 list (modood) holds too
        registry.add_region(s, code="320106008000", name="阅江楼街道", level=RegionLevel.street, parent_code=osm_map.GULOU)
        registry.add_region(s, code="320102000000", name="玄武区", level=RegionLevel.district, parent_code="320100000000")
    modood = shared_dir / "geodata/admin/modood_streets_320102_320106.csv"
    refused = run_import("regions", modood, dry_run=True)
    line = next(p for p in refused.problems if p.record == "region 320106008000")
    assert line.status == "rejected" and "阅江楼街道" in line.reason and "下关街道" in line.reason and "upsert" in line.reason
    report = run_import("regions", modood, options=Options(mode="upsert"))
    renamed = next(p for p in report.problems if p.record == "region 320106008000")
    assert renamed.status == "warning" and "renamed from 阅江楼街道 to 下关街道" in renamed.reason
    with transaction() as s:
        assert s.get(Region, "320106008000").name == "下关街道"
        assert s.get(Region, "320102400000").name == "徐庄高新技术产业开发区"  # only in the 2022 list
    with transaction() as s:
        undo(s, report.summary["import_run"], SYSTEM)
    with transaction() as s:
        assert s.get(Region, "320106008000").name == "阅江楼街道" and s.get(Region, "320102400000") is None
