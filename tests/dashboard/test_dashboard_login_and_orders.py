"""Login, the server-side guard, and a grid worker closing a work order from the phone page, in Chromium."""
from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select, text

from core.config import settings
from core.passwords import hash_password
from blockdata.db import transaction
from blockdata.models import Account, AuditLog, Person, WorkOrder
from tests.browser import app_server, chromium
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


def login(browser, url: str, username: str, password: str) -> None:  # noqa: ANN001
    browser.get(url + "/login?next=/orders")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_pages_and_callbacks_refuse_without_a_session(server: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(
            server + "/_dash-update-component", data=json.dumps({"output": "x"}).encode(),
            headers={"Content-Type": "application/json"}), timeout=10)
    assert err.value.code == 401
    page = urllib.request.urlopen(server + "/orders", timeout=10)
    assert page.url.startswith(server + "/login")


def test_a_wrong_password_is_refused_and_audited(server: str, street: dict) -> None:
    with chromium() as browser:
        login(browser, server, street["worker"], "wrong")
        # the refusal page comes after an argon2 check: wait for it rather than read the old form
        WebDriverWait(browser, 30).until(lambda b: "用户名或密码错误" in b.page_source)
    with transaction() as s:
        assert s.scalars(select(AuditLog).where(AuditLog.action == "login.failed")).first() is not None


def test_a_grid_worker_records_a_departure_at_the_door(server: str, street: dict) -> None:
    with chromium(412, 915) as browser:  # a phone
        login(browser, server, street["worker"], PASSWORD)
        wait = WebDriverWait(browser, 30)
        wait.until(EC.presence_of_element_located((By.ID, f"order-{street['order']}")))
        card = browser.find_element(By.ID, f"order-{street['order']}")
        assert "人走注销" in card.text
        card.find_element(By.CSS_SELECTOR, "input[value=departed]").click()
        card.find_element(By.TAG_NAME, "textarea").send_keys("房东证实已于上月搬离")
        card.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda b: "已提交" in b.find_element(By.ID, f"order-{street['order']}").text)
    with transaction() as s:
        order = s.get(WorkOrder, street["order"])
        assert order.status.value == "done" and order.outcome == "corrected"
        assert order.correction["kind"] == "person_departed"
        assert s.get(Person, street["person"]).home_dwelling_id is None
