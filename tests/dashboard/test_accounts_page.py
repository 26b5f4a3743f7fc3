"""The admin page 账号 in Chromium: create a worker with a generated password (shown once), refuse mismatched
typed passwords, change a duty area, disable; audited as the admin; other roles refused, crafted callbacks too."""
from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from core.config import settings
from core.passwords import hash_password, verify_password
from core.viewer import Role
from blockdata.db import transaction
from blockdata.models import Account, AuditLog, Grid
from tests import places as P
from tests.browser import app_server, chromium

pytestmark = pytest.mark.browser
PASSWORD = "test-pass-5678"
GRID_A1, GRID_B1 = P.COMMUNITY_A + "001", P.COMMUNITY_B + "001"


@pytest.fixture(scope="module")
def server(database_url: str):  # noqa: ANN201
    with transaction() as s:
        P.build(s)
        s.add(Account(username="acc-admin", display_name="管理员", role=Role.admin, password_hash=hash_password(PASSWORD)))
        s.add(Account(username="acc-worker", display_name="网格员", role=Role.worker, jurisdiction=[GRID_B1],
                      password_hash=hash_password(PASSWORD)))
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url


def login(browser, url: str, username: str) -> None:  # noqa: ANN001
    browser.get(url + "/login?next=/accounts")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def pick(browser, dropdown_id: str, text: str) -> None:  # noqa: ANN001
    """Choose the option of a dcc.Dropdown (Dash 4: a button opening a searchable list) whose label has ``text``."""
    browser.find_element(By.ID, dropdown_id).click()
    wait = WebDriverWait(browser, 10)
    search = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".dash-dropdown-content input.dash-dropdown-search")))
    search.send_keys(text)
    option = wait.until(lambda b: next((o for o in b.find_elements(By.CSS_SELECTOR, ".dash-dropdown-content [role=option]")
                                        if text in o.text), None))
    option.click()
    if browser.find_elements(By.CSS_SELECTOR, ".dash-dropdown-content"):
        search.send_keys(Keys.ESCAPE)
    wait.until(lambda b: text in (b.find_element(By.ID, dropdown_id).get_attribute("textContent") or ""))


def account(username: str) -> Account | None:
    with transaction() as s:
        a = s.scalar(select(Account).where(Account.username == username))
        if a is not None:
            s.expunge(a)
        return a


def message(browser, wait, expected: str) -> str:  # noqa: ANN001
    wait.until(EC.text_to_be_present_in_element((By.ID, "accounts-message"), expected))
    return browser.find_element(By.ID, "accounts-message").text


def test_admin_creates_assigns_and_disables_a_worker(server: str) -> None:
    with chromium() as browser:
        wait = WebDriverWait(browser, 30)
        login(browser, server, "acc-admin")
        wait.until(EC.presence_of_element_located((By.ID, "accounts-rows")))
        assert "acc-worker" in browser.find_element(By.ID, "accounts-rows").text
        # typed passwords that differ: refused in one line, nothing created
        browser.find_element(By.ID, "new-username").send_keys("w-page")
        browser.find_element(By.ID, "new-name").send_keys("张网格")
        pick(browser, "new-role", "网格员")
        pick(browser, "new-area", GRID_A1)
        browser.find_element(By.CSS_SELECTOR, "#new-password-mode input[value=typed]").click()
        browser.find_element(By.ID, "new-password").send_keys("first-password-1")
        browser.find_element(By.ID, "new-password2").send_keys("first-password-2")
        browser.find_element(By.ID, "accounts-create").click()
        assert "the two passwords differ" in message(browser, wait, "differ")
        assert account("w-page") is None
        # a generated password, shown once
        browser.find_element(By.CSS_SELECTOR, "#new-password-mode input[value=generate]").click()
        browser.find_element(By.ID, "accounts-create").click()
        message(browser, wait, "已创建 w-page")
        secret = browser.find_element(By.ID, "accounts-secret").text
        created = account("w-page")
        assert created.jurisdiction == [GRID_A1] and created.display_name == "张网格"
        assert verify_password(created.password_hash, secret)
        wait.until(EC.text_to_be_present_in_element((By.ID, "accounts-rows"), "w-page"))
        # move the worker to grid B1, then disable
        pick(browser, "manage-user", "w-page")
        pick(browser, "manage-area", GRID_B1)
        browser.find_element(By.ID, "accounts-assign").click()
        message(browser, wait, "责任区已调整")
        assert not browser.find_elements(By.ID, "accounts-secret")  # the password was shown once, and is gone
        browser.find_element(By.ID, "accounts-disable").click()
        message(browser, wait, "已停用")
        assert "停用" in browser.find_element(By.ID, "account-row-w-page").text
    w = account("w-page")
    assert w.jurisdiction == [GRID_B1] and not w.active
    with transaction() as s:
        grid = s.scalar(select(Grid).where(Grid.code == GRID_B1))
        assert grid.worker_account_id is None  # a disabled worker is nobody's worker
        log = [(a.action, a.username) for a in s.scalars(select(AuditLog).where(AuditLog.subject == "account:w-page")
                                                          .order_by(AuditLog.id))]
        assert log == [("account.create", "acc-admin"), ("account.assign", "acc-admin"), ("account.disable", "acc-admin")]
        assert secret not in json.dumps([a.detail for a in s.scalars(select(AuditLog))], ensure_ascii=False)


def test_other_roles_are_refused_and_so_are_their_crafted_callbacks(server: str) -> None:
    with chromium() as browser:
        wait = WebDriverWait(browser, 30)
        login(browser, server, "acc-worker")
        wait.until(EC.presence_of_element_located((By.ID, "page-refused")))
        assert not browser.find_elements(By.ID, "accounts-create")
        assert "账号" not in browser.find_element(By.CSS_SELECTOR, "nav").text
        states = {"new-username": "evil-admin", "new-name": None, "new-role": "admin", "new-area": None,
                  "new-password-mode": "generate", "new-password": None, "new-password2": None, "manage-user": None,
                  "manage-role": None, "manage-area": None}
        body = browser.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/_dash-update-component', {method: 'POST', headers: {'Content-Type': 'application/json'},
              body: JSON.stringify(%s)}).then(r => r.text()).then(done).catch(e => done(String(e)));
        """ % json.dumps({
            "output": "..accounts-message.children...accounts-table.children...manage-user.options..",
            "outputs": [{"id": "accounts-message", "property": "children"}, {"id": "accounts-table", "property": "children"},
                        {"id": "manage-user", "property": "options"}],
            "inputs": [{"id": i, "property": "n_clicks", "value": 1 if i == "accounts-create" else None}
                       for i in ("accounts-create", "accounts-disable", "accounts-enable", "accounts-reset", "accounts-assign")],
            "changedPropIds": ["accounts-create.n_clicks"],
            "state": [{"id": k, "property": "value", "value": v} for k, v in states.items()],
        }))
        assert "accounts-refused" in body
    assert account("evil-admin") is None
    with transaction() as s:
        refused = s.scalars(select(AuditLog).where(AuditLog.action == "access.denied", AuditLog.subject == "page:/accounts")).all()
        assert {a.username for a in refused} == {"acc-worker"} and len(refused) >= 2  # the page and the callback
