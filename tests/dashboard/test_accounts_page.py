"""The admin page 账号 in Chromium: create a worker with a generated password (shown once), refuse mismatched
typed passwords, change a duty area, disable; audited as the admin; other roles refused, crafted callbacks too."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.config import settings
from core.passwords import hash_password, verify_password
from core.viewer import Role
from blockdata.db import transaction
from blockdata.models import Account, Grid
from tests import places as P
from tests.audit import AuditMark
from tests.browser import app_server, chromium, submit_login

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


def login(page, url: str, username: str) -> None:  # noqa: ANN001
    submit_login(page, url, username, PASSWORD, "/accounts")


def pick(page, dropdown_id: str, text: str) -> None:  # noqa: ANN001
    """Choose the option of a dcc.Dropdown (Dash 4: a button opening a searchable list) whose label has ``text``."""
    page.click(f"#{dropdown_id}")
    page.fill(".dash-dropdown-content input.dash-dropdown-search", text)
    page.locator(".dash-dropdown-content [role=option]", has_text=text).first.click()
    if page.locator(".dash-dropdown-content").count():
        page.keyboard.press("Escape")
    page.wait_for_function("([id, t]) => (document.getElementById(id).textContent || '').includes(t)",
                           arg=[dropdown_id, text], timeout=10000)


def account(username: str) -> Account | None:
    with transaction() as s:
        a = s.scalar(select(Account).where(Account.username == username))
        if a is not None:
            s.expunge(a)
        return a


def message(page, expected: str) -> str:  # noqa: ANN001
    page.wait_for_function("t => document.getElementById('accounts-message').innerText.includes(t)", arg=expected,
                           timeout=30000)
    return page.inner_text("#accounts-message")


def test_admin_creates_assigns_and_disables_a_worker(server: str) -> None:
    mark = AuditMark()
    with chromium() as page:
        login(page, server, "acc-admin")
        page.wait_for_selector("#accounts-rows", timeout=30000)
        assert "acc-worker" in page.inner_text("#accounts-rows")
        # typed passwords that differ: refused in one line, nothing created
        page.fill("#new-username", "w-page")
        page.fill("#new-name", "张网格")
        pick(page, "new-role", "网格员")
        pick(page, "new-area", GRID_A1)
        page.check("#new-password-mode input[value=typed]")
        page.fill("#new-password", "first-password-1")
        page.fill("#new-password2", "first-password-2")
        page.click("#accounts-create")
        assert "the two passwords differ" in message(page, "differ")
        assert account("w-page") is None
        # a generated password, shown once
        page.check("#new-password-mode input[value=generate]")
        page.click("#accounts-create")
        message(page, "已创建 w-page")
        secret = page.inner_text("#accounts-secret")
        created = account("w-page")
        assert created.jurisdiction == [GRID_A1] and created.display_name == "张网格"
        assert verify_password(created.password_hash, secret)
        page.wait_for_function("document.getElementById('accounts-rows').innerText.includes('w-page')", timeout=10000)
        # move the worker to grid B1, then disable
        pick(page, "manage-user", "w-page")
        pick(page, "manage-area", GRID_B1)
        page.click("#accounts-assign")
        message(page, "责任区已调整")
        assert page.locator("#accounts-secret").count() == 0  # the password was shown once, and is gone
        page.click("#accounts-disable")
        message(page, "已停用")
        assert "停用" in page.inner_text("#account-row-w-page")
        assert page.errors == [] and page.requests.outside(server) == []
    w = account("w-page")
    assert w.jurisdiction == [GRID_B1] and not w.active
    with transaction() as s:
        grid = s.scalar(select(Grid).where(Grid.code == GRID_B1))
        assert grid.worker_account_id is None  # a disabled worker is nobody's worker
    log = [(a.action, a.username) for a in mark.rows(subject="account:w-page")]
    assert log == [("account.create", "acc-admin"), ("account.assign", "acc-admin"), ("account.disable", "acc-admin")]
    assert secret not in json.dumps([a.detail for a in mark.rows()], ensure_ascii=False)


def test_other_roles_are_refused_and_so_are_their_crafted_callbacks(server: str) -> None:
    mark = AuditMark()
    with chromium() as page:
        login(page, server, "acc-worker")
        page.wait_for_selector("#page-refused", timeout=30000)
        assert page.locator("#accounts-create").count() == 0
        assert "账号" not in page.inner_text("header nav")
        states = {"new-username": "evil-admin", "new-name": None, "new-role": "admin", "new-area": None,
                  "new-password-mode": "generate", "new-password": None, "new-password2": None, "manage-user": None,
                  "manage-role": None, "manage-area": None}
        status = page.evaluate("""body => fetch('/_dash-update-component', {method: 'POST',
              headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)}).then(r => r.status)""", {
            "output": "..accounts-message.children...accounts-table.children...manage-user.options..",
            "outputs": [{"id": "accounts-message", "property": "children"}, {"id": "accounts-table", "property": "children"},
                        {"id": "manage-user", "property": "options"}],
            "inputs": [{"id": i, "property": "n_clicks", "value": 1 if i == "accounts-create" else None}
                       for i in ("accounts-create", "accounts-disable", "accounts-enable", "accounts-reset", "accounts-assign")],
            "changedPropIds": ["accounts-create.n_clicks"],
            "state": [{"id": k, "property": "value", "value": v} for k, v in states.items()],
        })
        assert status == 403
    assert account("evil-admin") is None
    refused = mark.rows(action="access.denied", subject="page:/accounts")
    assert [a.username for a in refused] == ["acc-worker", "acc-worker"]  # the page, then the callback
