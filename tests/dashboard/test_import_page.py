"""The admin import page in Chromium: upload, dry-run report table, apply with a progress bar; admin only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core.config import settings
from core.passwords import hash_password
from core.viewer import Role
from blockdata.db import transaction
from blockdata.models import Account, Address, AddressReview, AuditLog
from tests import places as P
from tests.browser import app_server, chromium, submit_login

pytestmark = pytest.mark.browser
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"
PASSWORD = "test-pass-5678"


@pytest.fixture(scope="module")
def accounts(database_url: str) -> dict:
    with transaction() as s:
        P.build(s)
        s.add(Account(username="imp-admin", display_name="导入管理员", role=Role.admin, password_hash=hash_password(PASSWORD)))
        s.add(Account(username="imp-worker", display_name="网格员", role=Role.worker, jurisdiction=[P.COMMUNITY_A + "001"],
                      password_hash=hash_password(PASSWORD)))
    return {"admin": "imp-admin", "worker": "imp-worker"}


@pytest.fixture(scope="module")
def server(accounts: dict, trained_address_tagger: None):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url


def upload(page, path: Path) -> None:  # noqa: ANN001
    page.set_input_files("#imports-upload input[type=file]", str(path))
    page.wait_for_function(f"document.getElementById('imports-file').innerText.includes({json.dumps(path.name)})")
    page.wait_for_function("!document.getElementById('imports-dry-run').disabled")


def wait_text(page, element_id: str, text: str) -> None:  # noqa: ANN001
    page.wait_for_function(f"(document.getElementById({json.dumps(element_id)}) || {{}}).innerText?.includes({json.dumps(text)})")


def report_rows(page) -> list[list[str]]:  # noqa: ANN001
    return page.eval_on_selector_all(
        "#imports-report tbody tr",
        "rows => rows.map(r => Array.from(r.querySelectorAll('td')).map(td => td.innerText)).filter(r => r.length)")


def _last_audit_id() -> int:
    with transaction() as s:
        return s.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()


def test_admin_uploads_dry_runs_and_applies(server: str, tmp_path: Path) -> None:
    messy = tmp_path / "addresses_messy.csv"
    messy.write_text("code,kind,full_text,lon,lat\nM-1,standard,南京市玄武区长江路292号,,\nM-2,hotel,长江路1号,,\n"
                     "M-3,point,长江路口,,\n", encoding="utf-8")
    before = _last_audit_id()
    with chromium() as page:
        page.set_default_timeout(30_000)
        submit_login(page, server, "imp-admin", PASSWORD, "/imports")
        page.wait_for_selector("#imports-upload")
        # 1. a messy file: the dry run's table names each bad row; apply stays disabled; nothing written
        upload(page, messy)
        page.click("#imports-dry-run")
        wait_text(page, "imports-summary", "试运行")
        rows = report_rows(page)
        assert any(r[0] == "3" and r[3] == "rejected" and "unknown address kind 'hotel'" in r[4] for r in rows), rows
        assert any(r[0] == "4" and "needs lon and lat" in r[4] for r in rows), rows
        assert page.is_disabled("#imports-apply")
        # 2. the clean fixture: dry run, then apply; the bar runs to 100 % and the table keeps the review lines
        upload(page, FIX / "addresses.csv")
        page.click("#imports-dry-run")
        wait_text(page, "imports-summary", "可以应用")
        # another file after a good dry run: apply waits for that file's own dry run
        upload(page, messy)
        assert page.is_disabled("#imports-apply") and report_rows(page) == []
        upload(page, FIX / "addresses.csv")
        page.click("#imports-dry-run")
        wait_text(page, "imports-summary", "可以应用")
        with transaction() as s:
            assert s.scalar(select(func.count()).select_from(Address)) == 0  # the dry run wrote nothing
        page.wait_for_function("!document.getElementById('imports-apply').disabled")
        page.click("#imports-apply")
        wait_text(page, "imports-progress-text", "完成")
        assert page.get_attribute("#imports-progress", "value") == "100"
        assert page.is_visible("#imports-progress")
        assert "已写入 8 行" in page.inner_text("#imports-summary")
        assert any(r[3] == "review" for r in report_rows(page))
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(Address)) == 8
        assert s.scalar(select(func.count()).select_from(AddressReview)) >= 1
        log = s.scalars(select(AuditLog).where(AuditLog.id > before, AuditLog.action == "import")).all()
        assert [(a.username, a.subject, a.detail["written"]) for a in log] == [("imp-admin", "import:addresses", 8)]


def test_other_roles_see_nothing_and_their_callbacks_are_refused(server: str) -> None:
    before = _last_audit_id()
    with chromium() as page:
        submit_login(page, server, "imp-worker", PASSWORD, "/imports")
        page.wait_for_selector("#page-refused", timeout=30_000)
        assert page.locator("#imports-upload").count() == 0
        # a crafted dry-run callback from the worker's own session, with the session's CSRF token as Dash sends it
        status = page.evaluate("""body => {
              const csrf = decodeURIComponent((document.cookie.match(/(?:^|; )_csrf_token=([^;]*)/) || [])[1] || '');
              return fetch('/_dash-update-component', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf}, body: JSON.stringify(body)})
                .then(r => r.status); }""", {
            "output": "..imports-report.data...imports-summary.children...imports-apply.disabled..",
            "outputs": [{"id": "imports-report", "property": "data"}, {"id": "imports-summary", "property": "children"},
                        {"id": "imports-apply", "property": "disabled"}],
            "inputs": [{"id": "imports-dry-run", "property": "n_clicks", "value": 1}],
            "changedPropIds": ["imports-dry-run.n_clicks"],
            "state": [{"id": "imports-token", "property": "data", "value": "0" * 32 + "/x.csv"},
                      {"id": "imports-kind", "property": "value", "value": "addresses"},
                      {"id": "imports-crs", "property": "value", "value": None}],
        })
        assert status == 403
    with transaction() as s:
        refused = s.scalars(select(AuditLog).where(AuditLog.id > before, AuditLog.action == "access.denied",
                                                   AuditLog.subject == "page:/imports").order_by(AuditLog.id)).all()
        # the page, then the crafted callback: both refused by the one page guard, both audited
        assert [(a.username, a.detail["via"].split(" ")[0]) for a in refused] == [("imp-worker", "page"), ("imp-worker", "callback")]


def test_every_import_kind_has_its_label_on_the_page() -> None:
    """The page lists every kind the importers take, each under its Chinese name (a kind without one broke
    the page's layout for every admin)."""
    from intake.importers import KIND_LABELS, KINDS

    assert set(KINDS) <= set(KIND_LABELS) and all(KIND_LABELS[k] for k in KINDS)
