"""The import page's CLI options in Chromium: mode, utility and source shown where they apply, and a
utility company's file without a kind column imported from the page as the chosen utility."""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, text

from blockdata import registry
from blockdata.db import transaction
from blockdata.models import Account, AddressKind, AuditLog, Dwelling, UtilityKind, UtilityReading
from core.config import settings
from core.passwords import hash_password
from core.viewer import Role
from intake.addresses.parser import parse
from tests import places as P
from tests.browser import app_server, chromium, submit_login
from tests.dashboard.test_accounts_page import pick
from tests.dashboard.test_import_page import report_rows, upload, wait_text

pytestmark = pytest.mark.browser
PASSWORD = "test-pass-9137"
A_TEXT = "南京市玄武区梅园新村街道测试小区1幢1单元301室"
NOV = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def base(database_url: str) -> P.Places:
    """The hand-built street with a standard address on dwelling A1 (as `dwellings generate` makes it), and an admin."""
    with transaction() as s:
        places = P.build(s)
        a = registry.add_address(s, code="SA-A", kind=AddressKind.standard, full_text=A_TEXT, parts=parse(A_TEXT))
        s.get(Dwelling, places.dwelling_a1).address_id = a.id
        s.add(Account(username="opt-admin", display_name="导入管理员", role=Role.admin, password_hash=hash_password(PASSWORD)))
    return places


@pytest.fixture(scope="module")
def server(base: P.Places, trained_address_tagger: None):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url


def shown(page) -> dict[str, bool]:  # noqa: ANN001
    return {name: page.is_visible(f"#imports-{name}") for name in ("mode", "utility", "source")}


def wait_shown(page, name: str, visible: bool) -> None:  # noqa: ANN001
    page.wait_for_selector(f"#imports-{name}", state="visible" if visible else "hidden", timeout=10_000)


def _last_audit_id() -> int:
    with transaction() as s:
        return s.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()


def test_each_option_is_shown_only_for_the_kinds_it_applies_to(server: str) -> None:
    with chromium() as page:
        page.set_default_timeout(30_000)
        submit_login(page, server, "opt-admin", PASSWORD, "/imports")
        page.wait_for_selector("#imports-upload")
        assert shown(page) == {"mode": False, "utility": False, "source": False}  # addresses: none of them
        pick(page, "imports-kind", "(utility)")
        wait_shown(page, "utility", True)
        assert shown(page) == {"mode": False, "utility": True, "source": False}
        pick(page, "imports-kind", "(buildings)")  # upsertable and a place kind (OSM)
        wait_shown(page, "mode", True)
        assert shown(page) == {"mode": True, "utility": False, "source": True}
        pick(page, "imports-kind", "(gates)")  # a place kind that cannot be upserted
        wait_shown(page, "mode", False)
        assert shown(page) == {"mode": False, "utility": False, "source": True}
        pick(page, "imports-kind", "(people)")  # a table kind: neither mode nor source
        wait_shown(page, "source", False)
        assert shown(page) == {"mode": False, "utility": False, "source": False}


def test_a_utility_file_without_a_kind_column_is_imported_as_the_chosen_utility(server: str, base: P.Places,
                                                                               tmp_path: Path) -> None:
    bills = tmp_path / "water_2026_11.csv"
    with bills.open("w", encoding="utf-8", newline="") as fh:  # the water company's columns: no 类型 column
        csv.writer(fh).writerows([["户号", "用水地址", "账期", "读数"],
                                  ["W0001", "玄武区梅园新村街道测试小区1幢1单元301", "2026-11", "12.5"]])
    before = _last_audit_id()
    with chromium() as page:
        page.set_default_timeout(30_000)
        submit_login(page, server, "opt-admin", PASSWORD, "/imports")
        page.wait_for_selector("#imports-upload")
        pick(page, "imports-kind", "(utility)")
        wait_shown(page, "utility", True)
        upload(page, bills)
        # 1. no utility chosen: the file cannot say which company; the row is refused, apply stays off
        page.click("#imports-dry-run")
        wait_text(page, "imports-summary", "试运行")
        rows = report_rows(page)
        assert any(r[0] == "2" and r[2] == "kind" and r[3] == "rejected" and "which utility" in r[4] for r in rows), rows
        assert page.is_disabled("#imports-apply")
        # 2. 表类：水, as `--utility water`: the dry run is clean, then applied
        pick(page, "imports-utility", "表类：水")
        page.click("#imports-dry-run")
        wait_text(page, "imports-summary", "可以应用")
        page.wait_for_function("!document.getElementById('imports-apply').disabled")
        page.click("#imports-apply")
        wait_text(page, "imports-progress-text", "完成")
        assert "已写入 1 行" in page.inner_text("#imports-summary")
    with transaction() as s:
        water = s.get(UtilityReading, (base.dwelling_a1, UtilityKind.water, NOV))
        assert water is not None and water.value == pytest.approx(12.5)
        for other in (UtilityKind.electricity, UtilityKind.gas):  # the chosen utility, not another
            assert s.get(UtilityReading, (base.dwelling_a1, other, NOV)) is None
        log = s.scalars(select(AuditLog).where(AuditLog.id > before, AuditLog.action == "import")).all()
        assert [(a.username, a.subject, a.detail["written"]) for a in log] == [("opt-admin", "import:utility", 1)]
