"""The admin import page in Chromium: upload, dry-run report table, apply with a progress bar; admin only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from core.config import settings
from core.passwords import hash_password
from core.viewer import Role
from blockdata.db import transaction
from blockdata.models import Account, Address, AddressReview, AuditLog
from tests import places as P
from tests.browser import app_server, chromium

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
def server(accounts: dict):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url


def login(browser, url: str, username: str) -> None:  # noqa: ANN001
    browser.get(url + "/login?next=/imports")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def upload(browser, wait, path: Path) -> None:  # noqa: ANN001
    browser.find_element(By.CSS_SELECTOR, "#imports-upload input[type=file]").send_keys(str(path))
    wait.until(EC.text_to_be_present_in_element((By.ID, "imports-file"), path.name))
    wait.until(lambda b: b.find_element(By.ID, "imports-dry-run").is_enabled())


def report_rows(browser) -> list[list[str]]:  # noqa: ANN001
    rows = browser.find_elements(By.CSS_SELECTOR, "#imports-report tbody tr")
    return [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows if r.find_elements(By.TAG_NAME, "td")]


def test_admin_uploads_dry_runs_and_applies(server: str, tmp_path: Path) -> None:
    messy = tmp_path / "addresses_messy.csv"
    messy.write_text("code,kind,full_text,lon,lat\nM-1,standard,南京市玄武区长江路292号,,\nM-2,hotel,长江路1号,,\n"
                     "M-3,point,长江路口,,\n", encoding="utf-8")
    with chromium() as browser:
        wait = WebDriverWait(browser, 30)
        login(browser, server, "imp-admin")
        wait.until(EC.presence_of_element_located((By.ID, "imports-upload")))
        # 1. a messy file: the dry run's table names each bad row; apply stays disabled; nothing written
        upload(browser, wait, messy)
        browser.find_element(By.ID, "imports-dry-run").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "imports-summary"), "试运行"))
        rows = report_rows(browser)
        assert any(r[0] == "3" and r[3] == "rejected" and "unknown address kind 'hotel'" in r[4] for r in rows), rows
        assert any(r[0] == "4" and "needs lon and lat" in r[4] for r in rows), rows
        assert not browser.find_element(By.ID, "imports-apply").is_enabled()
        # 2. the clean fixture: dry run, then apply; the bar runs to 100 % and the table keeps the review lines
        upload(browser, wait, FIX / "addresses.csv")
        browser.find_element(By.ID, "imports-dry-run").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "imports-summary"), "可以应用"))
        # another file after a good dry run: apply waits for that file's own dry run
        upload(browser, wait, messy)
        assert not browser.find_element(By.ID, "imports-apply").is_enabled() and report_rows(browser) == []
        upload(browser, wait, FIX / "addresses.csv")
        browser.find_element(By.ID, "imports-dry-run").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "imports-summary"), "可以应用"))
        with transaction() as s:
            assert s.scalar(select(func.count()).select_from(Address)) == 0  # the dry run wrote nothing
        wait.until(lambda b: b.find_element(By.ID, "imports-apply").is_enabled())
        browser.find_element(By.ID, "imports-apply").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "imports-progress-text"), "完成"))
        assert browser.find_element(By.ID, "imports-progress").get_attribute("value") == "100"
        assert browser.find_element(By.ID, "imports-progress").is_displayed()
        assert "已写入 8 行" in browser.find_element(By.ID, "imports-summary").text
        assert any(r[3] == "review" for r in report_rows(browser))
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(Address)) == 8
        assert s.scalar(select(func.count()).select_from(AddressReview)) >= 1
        log = s.scalars(select(AuditLog).where(AuditLog.action == "import")).all()
        assert [(a.username, a.subject, a.detail["written"]) for a in log] == [("imp-admin", "import:addresses", 8)]


def test_other_roles_see_nothing_and_their_callbacks_are_refused(server: str) -> None:
    with chromium() as browser:
        wait = WebDriverWait(browser, 30)
        login(browser, server, "imp-worker")
        wait.until(EC.presence_of_element_located((By.ID, "page-refused")))
        assert not browser.find_elements(By.ID, "imports-upload")
        # a crafted dry-run callback from the worker's own session
        status = browser.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const csrf = decodeURIComponent((document.cookie.match(/(?:^|; )_csrf_token=([^;]*)/) || [])[1] || '');
            fetch('/_dash-update-component', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
              body: JSON.stringify(%s)}).then(r => done(r.status)).catch(e => done(String(e)));
        """ % json.dumps({
            "output": "..imports-report.data...imports-summary.children...imports-apply.disabled..",
            "outputs": [{"id": "imports-report", "property": "data"}, {"id": "imports-summary", "property": "children"},
                        {"id": "imports-apply", "property": "disabled"}],
            "inputs": [{"id": "imports-dry-run", "property": "n_clicks", "value": 1}],
            "changedPropIds": ["imports-dry-run.n_clicks"],
            "state": [{"id": "imports-token", "property": "data", "value": "0" * 32 + "/x.csv"},
                      {"id": "imports-kind", "property": "value", "value": "addresses"},
                      {"id": "imports-crs", "property": "value", "value": None}],
        }))
        assert status == 403
    with transaction() as s:
        refused = s.scalars(select(AuditLog).where(AuditLog.action == "access.denied", AuditLog.subject == "page:/imports")
                            .order_by(AuditLog.id)).all()
        # the page, then the crafted callback: both refused by the one page guard, both audited
        assert [(a.username, a.detail["via"].split(" ")[0]) for a in refused] == [("imp-worker", "page"), ("imp-worker", "callback")]
