"""Login, the server-side guard, and a grid worker closing a work order from the phone page, in Chromium."""
from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select, text

from core.config import settings
from core.passwords import hash_password
from blockdata.db import transaction
from blockdata.models import Account, AuditLog, Person, WorkOrder
from tests.browser import app_server, chromium, submit_login
from tests.seeded import seed_tiny_swept

pytestmark = pytest.mark.browser
ANCHOR = dt.date(2026, 11, 20)
PASSWORD = "test-pass-1234"


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    seed_tiny_swept(ANCHOR)
    with transaction() as s:
        order = s.execute(text(
            """SELECT w.id, w.assignee_account_id, a.subject_id FROM work_order w JOIN alert a ON a.id = w.alert_id
               WHERE w.kind = 'departure'""")).one()
        worker = s.get(Account, order.assignee_account_id)
        worker.password_hash = hash_password(PASSWORD)  # the seed printed a random one; the test sets its own
        return {"order": order.id, "person": order.subject_id, "worker": worker.username}


@pytest.fixture(scope="module")
def server(street: dict):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url


def test_pages_and_callbacks_refuse_without_a_session(server: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(
            server + "/_dash-update-component", data=json.dumps({"output": "x"}).encode(),
            headers={"Content-Type": "application/json"}), timeout=10)
    assert err.value.code == 401
    page = urllib.request.urlopen(server + "/orders", timeout=10)
    assert page.url.startswith(server + "/login")


def test_a_wrong_password_is_refused_and_audited(server: str, street: dict) -> None:
    with transaction() as s:
        before = s.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()
    with chromium() as page:
        submit_login(page, server, street["worker"], "wrong", "/orders")
        # the refusal page comes after an argon2 check: wait for it rather than read the old form
        page.wait_for_selector("text=用户名或密码错误", timeout=30_000)
        assert "/login" in page.url
    with transaction() as s:
        failed = s.scalars(select(AuditLog).where(AuditLog.id > before, AuditLog.action == "login.failed")).all()
    assert [a.username for a in failed] == [street["worker"]]


def test_a_grid_worker_records_a_departure_at_the_door(server: str, street: dict) -> None:
    with chromium(412, 915) as page:  # a phone
        submit_login(page, server, street["worker"], PASSWORD, "/orders")
        card = page.locator(f"#order-{street['order']}")
        card.wait_for(timeout=30_000)
        assert "人走注销" in card.inner_text()
        card.locator("input[value=corrected]").click()
        card.locator("textarea").fill("房东证实已于上月搬离")
        card.locator("button").first.click()
        page.wait_for_function(f"document.getElementById('order-{street['order']}').innerText.includes('已提交')",
                               timeout=30_000)
    with transaction() as s:
        order = s.get(WorkOrder, street["order"])
        assert order.status.value == "done" and order.outcome == "corrected"
        assert order.correction["kind"] == "person_departed"
        assert s.get(Person, street["person"]).home_dwelling_id is None
