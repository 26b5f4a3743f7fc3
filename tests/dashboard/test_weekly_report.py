"""一键生成周报: the workbook holds the page's figures, the PDF renders with its charts, both watermarked and audited."""
from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from analytics import figures as F
from analytics.indicators import GROUPS, INDICATORS
from analytics.stats_refresh import refresh
from blockdata.db import transaction
from blockdata.models import AuditLog
from cli import main
from core.errors import AccessDenied
from core.viewer import SYSTEM, Role, Viewer
from dashboard.report import SUMMARY_KEYS, weekly
from tests.seeded import seed_tiny_swept

D = dt.date(2026, 11, 20)
WEEK = "2026-W47"
STREET, COMMUNITY = "320106001000", "320106001005"


@pytest.fixture(scope="module")
def street(database_url: str) -> None:
    as_of = seed_tiny_swept(D)
    with transaction() as s:
        refresh(s, as_of + dt.timedelta(hours=12))


def _audits(username: str) -> list[AuditLog]:
    with transaction() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == "report.weekly", AuditLog.username == username)
                              .order_by(AuditLog.id)))


def test_the_workbook_holds_the_same_figures_as_the_page(street: None) -> None:
    from openpyxl import load_workbook

    report = weekly(SYSTEM, STREET, WEEK, reason="周例会")
    with transaction() as s:
        page = F.figures_for(s, SYSTEM, STREET, F.iso_week(WEEK))
        previous = F.figures_for(s, SYSTEM, STREET, F.iso_week("2026-W46"))
    wb = load_workbook(io.BytesIO(report.xlsx))
    assert wb.sheetnames == ["汇总", *GROUPS.values()]
    for ws in wb.worksheets:  # every sheet starts with the watermark
        assert ws["A1"].value == report.watermark and "system" in report.watermark and "周例会" in report.watermark
    assert wb.properties.description == report.watermark
    summary = {row[0]: row[1:4] for row in wb["汇总"].iter_rows(min_row=6, values_only=True)}
    from analytics.indicators import BY_KEY

    for key in SUMMARY_KEYS:
        this, before, delta = summary[BY_KEY[key].label]
        assert this == pytest.approx(page.values[key]) and before == pytest.approx(previous.values[key]), key
        if this is not None and before is not None:
            assert delta == pytest.approx(this - before)
    assert summary["实有人口"][0] > 100  # a real figure, not an empty report
    for group, title in GROUPS.items():
        rows = {r[1]: r for r in wb[title].iter_rows(min_row=3, values_only=True) if r[1]}
        for ind in INDICATORS:
            if ind.group == group:
                assert rows[ind.key][2] == pytest.approx(page.values[ind.key]), ind.key
    days = {d.strftime("%m-%d"): d for d in F.iso_week(WEEK).dates()}
    flows = [r for r in wb["通行流量"].iter_rows(min_row=2, max_row=2, values_only=True)][0]
    entries = next(r for r in wb["通行流量"].iter_rows(min_row=3, values_only=True) if r[1] == "entries")
    by_day = dict(zip(flows[6:], entries[6:]))
    assert sum(v or 0 for v in by_day.values()) == page.values["entries"]
    assert by_day["11-19"] == page.daily["entries"][days["11-19"]]
    rule_rows = [r for r in wb["工单办理"].iter_rows(values_only=True) if r[1] == "utility_anomaly"]
    assert rule_rows and rule_rows[0][2] == 2  # per rule: two utility orders opened in the week
    audits = _audits("system")
    assert audits[-1].subject == f"place:{STREET}" and audits[-1].detail["week"] == WEEK
    assert audits[-1].detail["watermark"] == report.watermark and audits[-1].reason == "周例会"


def test_the_pdf_renders_with_its_charts_and_watermark(street: None, tmp_path: Path) -> None:
    report = weekly(SYSTEM, COMMUNITY, WEEK)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(report.pdf)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2
    words = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    for title in ("颐和路社区 周报", "每日通行（人次）", "工单办理（件/日）", "实有人口构成（人）", "各规则预警准确率（%）", "GridPulse export by system"):
        assert title in words, title
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert report.watermark in info
    charts = Image.open(pages[1]).convert("RGB")
    blue = sum(1 for p in charts.getdata() if p[2] > 180 and p[0] < 80 and p[1] < 140)  # the entries bars
    amber = sum(1 for p in charts.getdata() if p[0] > 200 and 130 < p[1] < 180 and p[2] < 60)  # exits bars
    assert blue > 500 and amber > 500, (blue, amber)
    cover = Image.open(pages[0]).convert("L")
    assert sum(1 for p in cover.getdata() if p < 128) > 2000  # the summary table is printed


def test_a_report_outside_the_jurisdiction_is_refused_and_not_made(street: None) -> None:
    viewer = Viewer(account_id=None, role=Role.supervisor, jurisdiction=(COMMUNITY,), username="sup-report-test")
    with pytest.raises(AccessDenied):
        weekly(viewer, STREET, WEEK)
    assert _audits("sup-report-test") == []
    with transaction() as s:
        refused = s.scalar(select(AuditLog).where(AuditLog.username == "sup-report-test", AuditLog.action == "access.denied"))
    assert refused.subject == f"stats:{STREET}"
    assert weekly(viewer, COMMUNITY, WEEK).figures.place.code == COMMUNITY
    assert len(_audits("sup-report-test")) == 1


def test_the_command_writes_both_files_and_explains_bad_input(street: None, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    made_before = len(_audits("system:report"))
    assert main(["report", "weekly", "--place", STREET, "--week", WEEK, "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"weekly-{STREET}-{WEEK}.pdf", f"weekly-{STREET}-{WEEK}.xlsx"]
    assert main(["report", "weekly", "--place", STREET, "--week", "2026W47", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "like 2026-W49" in err[0]
    assert main(["report", "weekly", "--place", STREET, "--week", WEEK, "--out", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    made = _audits("system:report")
    assert len(made) == made_before + 1  # the good run only: bad input makes and records nothing
    assert made[-1].detail["files"] == [f"weekly-{STREET}-{WEEK}.xlsx", f"weekly-{STREET}-{WEEK}.pdf"]


def _account(username: str, role: Role, area: str) -> str:
    """A real account with a password, as `gridpulse accounts create` makes it; returns the password."""
    from blockdata.models import Account
    from core.passwords import hash_password

    password = f"pw-{username}-7Qx!"
    with transaction() as s:
        s.add(Account(username=username, role=role, display_name=username,
                      password_hash=hash_password(password), jurisdiction=[area], active=True))
    return password


def _report_as(username: str, password: str, tmp_path: Path, monkeypatch) -> tuple:  # noqa: ANN001
    """Run the command as the user would, password piped on stdin; the workbook it wrote, opened."""
    from openpyxl import load_workbook

    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    out = tmp_path / username
    out.mkdir()
    assert main(["report", "weekly", "--place", STREET, "--week", WEEK, "--user", username, "--password-stdin",
                 "--out", str(out)]) == 0
    return load_workbook(out / f"weekly-{STREET}-{WEEK}.xlsx"), out / f"weekly-{STREET}-{WEEK}.pdf"


def test_a_police_report_from_the_command_line_has_the_pages_groups_only(street: None, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from analytics.indicators import BY_KEY

    police_pw = _account("police-report-test", Role.police, STREET)
    admin_pw = _account("admin-report-test", Role.admin, STREET)
    police_wb, police_pdf = _report_as("police-report-test", police_pw, tmp_path, monkeypatch)
    admin_wb, admin_pdf = _report_as("admin-report-test", admin_pw, tmp_path, monkeypatch)

    assert police_wb.sheetnames == ["汇总", "实有人口", "通行流量"]  # as the 统计 page shows police
    assert admin_wb.sheetnames == ["汇总", *GROUPS.values()] and "工单办理" in admin_wb.sheetnames
    police_rows = {r[0] for r in police_wb["汇总"].iter_rows(min_row=6, values_only=True)}
    admin_rows = {r[0] for r in admin_wb["汇总"].iter_rows(min_row=6, values_only=True)}
    work = {BY_KEY[k].label for k in SUMMARY_KEYS if BY_KEY[k].group == "work"}
    assert work and work <= admin_rows and not (work & police_rows)  # no work-order figure hides in the summary
    assert {BY_KEY["pop_actual"].label, BY_KEY["entries"].label} <= police_rows
    for wb, who in ((police_wb, "police-report-test"), (admin_wb, "admin-report-test")):
        assert who in wb["汇总"]["A1"].value  # watermarked with the account, not a system actor
    texts = {}
    for who, pdf in (("police", police_pdf), ("admin", admin_pdf)):
        texts[who] = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    for title in ("工单办理（件/日）", "各规则预警准确率（%）", "新派工单"):
        assert title in texts["admin"] and title not in texts["police"], title
    assert "每日通行（人次）" in texts["police"] and "实有人口构成（人）" in texts["police"]
    police_audit = _audits("police-report-test")
    assert len(police_audit) == 1 and police_audit[0].detail["groups"] == ["population", "flows"]
    assert _audits("admin-report-test")[0].detail["groups"] == list(GROUPS)


def test_a_police_account_with_a_wrong_password_gets_no_report(street: None, tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    _account("police-wrongpw-test", Role.police, STREET)
    monkeypatch.setattr("sys.stdin", io.StringIO("not-the-password\n"))
    code = main(["report", "weekly", "--place", STREET, "--week", WEEK, "--user", "police-wrongpw-test",
                 "--password-stdin", "--out", str(tmp_path)])
    assert code != 0 and list(tmp_path.iterdir()) == []
    assert "wrong password" in capsys.readouterr().err
    assert _audits("police-wrongpw-test") == []
