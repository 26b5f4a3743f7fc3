"""数据归集: the departments' lists come in incrementally and idempotently, and the base goes back up audited."""
from __future__ import annotations

import csv
import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from blockdata import registry
from blockdata.db import transaction
from blockdata.models import (
    AddressKind, AddressReview, AuditLog, Building, Dwelling, Organisation, PersonTag, PersonTagKind, PropertyFee, Relation,
    RelationKind, ReviewStatus, UtilityKind, UtilityReading,
)
from cli import main
from core.errors import InvalidInput
from intake.addresses.parser import parse
from intake.importers import Options, run_import
from tests import places as P
from tests.audit import AuditMark
from tests.places import count, id_number

A_TEXT = "南京市玄武区梅园新村街道测试小区1幢1单元301室"
B_TEXT = "南京市玄武区梅园新村街道101幢1单元1102室"
STRANGER = id_number(77, dt.date(1970, 1, 1))  # a valid ID number of someone not in the base


@pytest.fixture(scope="module")
def base(places: P.Places) -> P.Places:
    """The hand-built street, with standard addresses on its two dwellings (as `dwellings generate` makes them)."""
    with transaction() as s:
        for code, text, dwelling in (("SA-A", A_TEXT, places.dwelling_a1), ("SA-B", B_TEXT, places.dwelling_b1)):
            a = registry.add_address(s, code=code, kind=AddressKind.standard, full_text=text, parts=parse(text))
            s.get(Dwelling, dwelling).address_id = a.id
    return places


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def b_number() -> str:
    return id_number(2, dt.date(1988, 7, 9))


def test_tags_need_their_department_and_basis_and_come_in_once(base: P.Places, tmp_path: Path) -> None:
    header = ["身份证号", "标签", "部门", "依据", "有效期至"]
    bad = write_csv(tmp_path / "bad.csv", header, [
        [base.id_number_a, "独居老人", "民政", "鼓民〔2026〕12号 独居老人认定", "2027-12-31"],
        [b_number(), "残疾人", "民政", "残疾人证", "2030-01-01"],                 # 民政 does not own it
        [base.id_number_a, "重点管控", "公安", "", "2027-01-01"],                  # no legal basis
        [b_number(), "社区矫正", "司法", "(2026)苏0102刑初88号判决", "不详"],      # unreadable expiry
    ])
    with transaction() as s:
        tags_before = s.scalar(select(func.count()).select_from(PersonTag))
    report = run_import("tags", bad, dry_run=True)
    rejected = {(p.row, p.field): p.reason for p in report.problems if p.status == "rejected"}
    assert "残联 does" in rejected[(3, "department")]
    assert "without a legal basis is refused" in rejected[(4, "legal_basis")]
    assert "lapses with its basis" in rejected[(5, "legal_basis_expiry")]
    assert (2, "tag") not in rejected and all(base.id_number_a not in p.record for p in report.problems)
    with pytest.raises(InvalidInput, match="nothing written"):
        run_import("tags", bad)
    good = write_csv(tmp_path / "good.csv", header, [
        [base.id_number_a, "独居老人", "民政", "鼓民〔2026〕12号 独居老人认定", "2027-12-31"],
        [b_number(), "社区矫正", "司法", "(2026)苏0102刑初88号判决", "2027-06-30"],
        [b_number(), "残疾人", "残联", "残疾人证 32010219880709", "2025-01-01"],   # lapsed: stored, said
        [STRANGER, "独居老人", "民政", "鼓民〔2026〕13号", "2027-12-31"],         # not in the base
    ])
    first = run_import("tags", good)
    assert first.summary["written"] == 3 and first.summary["people_unmatched"] == 1
    assert any("lapsed on 2025-01-01" in p.reason for p in first.problems)
    with transaction() as s:
        tag = s.get(PersonTag, (base.person_a, PersonTagKind.elderly_alone))  # it was there without a basis
        assert tag.source_department == "民政" and tag.legal_basis_expiry == dt.date(2027, 12, 31)
        corr = s.get(PersonTag, (base.person_b, PersonTagKind.community_correction))
        assert corr.legal_basis.startswith("(2026)") and corr.source_department == "司法"
        assert s.scalar(select(func.count()).select_from(PersonTag)) == tags_before + 2
    again = run_import("tags", good)
    assert again.summary["written"] == 0 and again.summary["unchanged"] == 3


def test_utility_readings_match_by_address_then_account_and_the_rest_wait_for_review(base: P.Places, tmp_path: Path) -> None:
    nov = write_csv(tmp_path / "water_2026_11.csv", ["户号", "用水地址", "账期", "读数"], [
        ["W0001", "玄武区梅园新村街道测试小区1幢1单元301", "2026-11", "12.5"],
        ["W0002", "玄武区梅园新村街道101幢1单元1102", "2026年11月", "3"],
        ["W0999", "鼓楼区北京西路99号", "2026-11", "8"],                      # no such dwelling here
    ])
    with pytest.raises(InvalidInput, match="which utility"):
        run_import("utility", nov)
    report = run_import("utility", nov, options=Options(utility="water"))
    assert report.summary["written"] == 2 and report.summary["unmatched_to_review"] == 1
    with transaction() as s:
        a = s.get(UtilityReading, (base.dwelling_a1, UtilityKind.water, dt.date(2026, 11, 1)))
        b = s.get(UtilityReading, (base.dwelling_b1, UtilityKind.water, dt.date(2026, 11, 1)))
        assert a.value == pytest.approx(12.5) and b.value == pytest.approx(3)
        pending = s.scalar(select(func.count()).select_from(AddressReview).where(
            AddressReview.raw_text == "鼓楼区北京西路99号", AddressReview.status == ReviewStatus.pending))
        assert pending == 1
    again = run_import("utility", nov, options=Options(utility="water"))
    assert again.summary["written"] == 0 and again.summary["unchanged"] == 2
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(AddressReview).where(
            AddressReview.raw_text == "鼓楼区北京西路99号")) == 1  # queued once, however often delivered
    dec = write_csv(tmp_path / "water_2026_12.csv", ["户号", "账期", "读数"], [["W0001", "2026-12", "11"]])
    assert run_import("utility", dec, options=Options(utility="water")).summary["written"] == 1  # by the account alone
    with transaction() as s:
        assert s.get(UtilityReading, (base.dwelling_a1, UtilityKind.water, dt.date(2026, 12, 1))).value == pytest.approx(11)
        # a hard negative: the same account number at the power company is another account
        assert s.get(UtilityReading, (base.dwelling_a1, UtilityKind.electricity, dt.date(2026, 12, 1))) is None


def test_fees_organisations_and_employees(base: P.Places, tmp_path: Path) -> None:
    fees = write_csv(tmp_path / "fees.csv", ["缴费人", "房屋编码", "月份", "金额", "缴费日期"], [
        ["李秀英", "XW-B101-1-1102", "2026-10", "300", "2026-10-05"],
        ["王建国", "", "2026-10", "280", ""],                                   # neither code nor address
    ])
    report = run_import("fees", fees, dry_run=True)
    assert report.rejected_rows == {3}
    fees.write_text("\n".join(fees.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    assert run_import("fees", fees).summary["written"] == 1
    assert run_import("fees", fees).summary["unchanged"] == 1
    with transaction() as s:
        fee = s.get(PropertyFee, (base.dwelling_b1, dt.date(2026, 10, 1)))
        assert fee.payer_name == "李秀英" and float(fee.amount) == 300
    uscc = "91320102MA1MABCD3X"
    orgs = write_csv(tmp_path / "orgs.csv", ["统一社会信用代码", "名称", "类型"], [
        [uscc, "南京测试科技有限公司", "company"], ["913201021234", "短号公司", "company"]])
    assert run_import("organisations", orgs, dry_run=True).rejected_rows == {3}
    orgs.write_text("\n".join(orgs.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    run_import("organisations", orgs)
    staff = write_csv(tmp_path / "staff.csv", ["身份证号", "统一社会信用代码", "入职日期"], [[b_number(), uscc, "2025-03-01"]])
    assert run_import("employees", staff).summary["written"] == 1
    assert run_import("employees", staff).summary["unchanged"] == 1
    with transaction() as s:
        org = s.scalar(select(Organisation).where(Organisation.uscc == uscc))
        rel = s.scalar(select(Relation).where(Relation.kind == RelationKind.employed_by, Relation.organisation_id == org.id))
        assert rel.person_id == base.person_b and rel.valid_from == dt.date(2025, 3, 1)


def test_export_of_the_base_for_the_data_centre_is_masked_and_audited(base: P.Places, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "base.zip"
    mark = AuditMark()
    assert main(["export", "base", str(out), "--user", "system:data-centre", "--reason", "2026年12月数据回流市大数据中心"]) == 0
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        people = zf.read("people.csv").decode()
        tags = zf.read("tags.csv").decode()
        buildings = json.loads(zf.read("buildings.geojson"))
    assert manifest["format"] == "gridpulse-base-exchange" and manifest["version"] == 1 and manifest["crs"] == "EPSG:4326"
    rows = {f["layer"]: f["rows"] for f in manifest["files"]}
    assert rows["buildings"] == len(buildings["features"]) == count(Building)
    # only the region prefix of an ID number leaves the base (intake/reidentification.py): not even its last four
    assert base.id_number_a not in people and base.id_number_a[-4:] not in people
    assert base.id_number_a[:4] + "*" * 14 in people
    assert "社区矫正" not in tags and "community_correction" in tags  # the tags of the test above, by code
    assert buildings["watermark"] == manifest["watermark"]
    [entry] = mark.rows(action="export", subject="base")
    assert entry.username == "system:data-centre" and entry.reason == "2026年12月数据回流市大数据中心" and entry.detail["rows"]["people"] == rows["people"]
    with pytest.raises(InvalidInput, match="give --reason"):
        with transaction() as s:
            from intake.exchange import export_base
            from core.viewer import SYSTEM

            export_base(s, SYSTEM, tmp_path / "no_reason.zip", reason=None)
