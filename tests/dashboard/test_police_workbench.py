"""警务 in real Chromium at desktop size: an officer looks a person up by ID number with a reason, runs
co-presence, sees the trajectory walk on the map, exports with a watermark; the audit log holds each
step with its reason. Refused without a reason, refused outside the jurisdiction, refused to a worker.
The clear ID number appears nowhere afterwards: not in the page, not in the audit log.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from analytics.police_workbench import day_window, last_day_with_data
from core.config import load_secrets, settings
from core.passwords import hash_password
from blockdata.db import transaction
from blockdata.identity import check_digit, hash_id_number, mask_id_number
from blockdata.models import Account, AuditLog, Person
from tests.browser import app_server, login_page
from tests.seeded import seed_tiny_swept

pytestmark = pytest.mark.browser
ANCHOR = dt.date(2026, 11, 20)
PASSWORD = "test-pass-1234"
NUMBER = "32010619700101001" + check_digit("32010619700101001")
REASON = "案件 2026-0001 核查"


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    seed_tiny_swept(ANCHOR)
    with transaction() as s:
        day = last_day_with_data(s)
        start, end = day_window(day)
        person_id, n = s.execute(text(
            """SELECT person_id, count(*) FROM access_event WHERE person_id IS NOT NULL AND result = 'open'
               AND ts >= :a AND ts < :b GROUP BY person_id ORDER BY count(*) DESC, person_id LIMIT 1"""),
            {"a": start, "b": end}).one()
        person = s.get(Person, person_id)
        person.id_hash = hash_id_number(load_secrets().id_hash_key, NUMBER)  # a number this test knows
        person.id_masked = mask_id_number(NUMBER)
        grid = s.execute(text(
            """SELECT g.code, g.community_code FROM grid g JOIN building b ON b.grid_id = g.id JOIN dwelling d ON d.building_id = b.id
               WHERE d.id = :d"""), {"d": person.home_dwelling_id}).one()
        other_community = s.execute(text(
            "SELECT code FROM region WHERE level = 'community' AND code <> :c ORDER BY code LIMIT 1"),
            {"c": grid.community_code}).scalar_one()
        for name, role, juris in (("police", "police", None), ("police-other", "police", [other_community])):
            acc = s.scalars(select(Account).where(Account.username == name)).first()
            if acc is None:
                acc = Account(username=name, display_name="另一派出所", role=role, jurisdiction=juris)
                s.add(acc)
            acc.password_hash = hash_password(PASSWORD)
        worker = s.scalars(select(Account).where(Account.role == "worker")).first()
        worker.password_hash = hash_password(PASSWORD)
    return {"person": person_id, "name": person.name, "passages": n, "worker": worker.username}


@pytest.fixture(scope="module")
def server(street: dict):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url



def _mark() -> int:
    with transaction() as s:
        return s.scalar(select(func.coalesce(func.max(AuditLog.id), 0)))


def _rows(mark: int, username: str) -> list[AuditLog]:
    with transaction() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.id > mark, AuditLog.username == username).order_by(AuditLog.id)))


def _lookup(page, reason: str) -> None:  # noqa: ANN001
    page.locator("#pw-query").fill(NUMBER)
    page.locator("#pw-reason").fill(reason)
    page.locator("#pw-lookup").click()


def test_lookup_copresence_trajectory_and_export_are_each_audited(server: str, street: dict, browser, tmp_path) -> None:  # noqa: ANN001
    mark = _mark()
    page = login_page(browser, server, "police", PASSWORD, "/police")
    _lookup(page, REASON)
    page.locator("#pw-record").wait_for(timeout=30000)
    assert street["name"] in page.locator("#pw-record").inner_text()
    assert mask_id_number(NUMBER) in page.locator("#pw-record").inner_text()
    assert page.locator("#pw-query").input_value() == "", "the typed ID number is cleared after the look-up"
    page.locator("#pw-copresence").click()
    page.locator("#pw-copresence-table").wait_for(timeout=30000)
    assert f"通行 {street['passages']} 次" in page.locator("#pw-summary").inner_text()
    # the trajectory's marker walks: the map takes patch after patch from the browser's own timer
    page.wait_for_function("(document.querySelector('#deck-map').dataset.patch || '').startsWith('walk-')", timeout=20000)
    first = page.evaluate("document.querySelector('#deck-map').dataset.patch")
    page.wait_for_function(f"document.querySelector('#deck-map').dataset.patch !== '{first}'", timeout=10000)
    with page.expect_download(timeout=30000) as download:
        page.locator("#pw-export").click()
    body = open(download.value.path(), encoding="utf-8").read()
    assert body.startswith("# GridPulse export by police (police") and REASON in body.splitlines()[0]
    assert "NUMBER" not in page.content() and NUMBER not in page.content()
    rows = _rows(mark, "police")
    actions = [r.action for r in rows]
    for action in ("person.lookup_id", "police.co_presence", "police.trajectory", "police.export"):
        assert actions.count(action) == 1, (action, actions)
    subject = f"person:{street['person']}"
    assert all(r.reason == REASON and r.subject == subject for r in rows
               if r.action in ("person.lookup_id", "police.co_presence", "police.trajectory", "police.export"))
    with transaction() as s:
        leaked = s.execute(text("SELECT count(*) FROM audit_log WHERE (subject || coalesce(reason, '') || detail::text) LIKE :n"),
                           {"n": f"%{NUMBER[6:14]}%"}).scalar_one()
    assert leaked == 0
    page.close()


def test_without_a_reason_nothing_is_looked_up(server: str, street: dict, browser) -> None:  # noqa: ANN001
    mark = _mark()
    page = login_page(browser, server, "police", PASSWORD, "/police")
    _lookup(page, "")
    page.locator("#pw-refused").wait_for(timeout=30000)
    assert "reason" in page.locator("#pw-refused").inner_text()
    assert page.locator("#pw-record").count() == 0
    assert not [r for r in _rows(mark, "police") if r.action == "person.lookup_id"]
    page.close()


def test_a_person_outside_the_jurisdiction_is_refused_and_audited(server: str, street: dict, browser) -> None:  # noqa: ANN001
    mark = _mark()
    page = login_page(browser, server, "police-other", PASSWORD, "/police")
    _lookup(page, REASON)
    page.locator("#pw-refused").wait_for(timeout=30000)
    assert page.locator("#pw-record").count() == 0 and street["name"] not in page.content()
    denied = [r for r in _rows(mark, "police-other") if r.action == "access.denied"]
    assert [r.subject for r in denied] == [f"person:{street['person']}"]
    page.close()


def test_a_grid_worker_may_not_open_the_workbench(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, street["worker"], PASSWORD, "/police")
    page.locator("#page-refused").wait_for(timeout=30000)
    assert page.locator("#pw-lookup").count() == 0
    assert "警务" not in page.locator("nav").inner_text()
    page.close()
