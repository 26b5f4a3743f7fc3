"""The grid worker's day on a phone (390 × 844) in real Chromium: read an order, follow it to the map,
register a person found at the door, and keep a half-typed finding across a reload.

Cases follow the issue: the card must say where, who (ID masked), why in words and by when; the
found person must end up in the dwelling the worker typed (messy) with the order as provenance,
as a floating resident, and the ID number must exist nowhere in clear (not in the audit log, not in
the phone's storage); a wrong check digit is refused with what to fix and registers nobody; a
dwelling in another grid is refused (a crafted request) and audited.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, text

from core.config import settings
from core.passwords import hash_password
from core.viewer import Role, Viewer
from blockdata.db import transaction
from blockdata.identity import check_digit
from blockdata.models import Account, AuditLog, Person, Relation, WorkOrder
from tests.browser import app_server, login_page
from tests.seeded import seed_tiny_swept

pytestmark = pytest.mark.browser
ANCHOR = dt.date(2026, 11, 20)
PASSWORD = "test-pass-1234"
PHONE = {"width": 390, "height": 844}


def valid_id(first17: str) -> str:
    return first17 + check_digit(first17)


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    seed_tiny_swept(ANCHOR)
    with transaction() as s:
        arrival = s.execute(text(
            """SELECT w.id, w.assignee_account_id, g.id AS grid_id FROM work_order w JOIN alert a ON a.id = w.alert_id
               JOIN grid g ON g.id = w.grid_id WHERE w.kind = 'arrival_registration' ORDER BY w.id LIMIT 1""")).one()
        departure = s.execute(text(
            """SELECT w.id, w.assignee_account_id, a.subject_id FROM work_order w JOIN alert a ON a.id = w.alert_id
               WHERE w.kind = 'departure' ORDER BY w.id LIMIT 1""")).one()
        # a vacant-ish dwelling in the arrival order's grid, and one in another grid
        here = s.execute(text(
            """SELECT d.id, a.compound, a.building, a.unit, a.room FROM dwelling d JOIN building b ON b.id = d.building_id
               JOIN address a ON a.id = d.address_id WHERE b.grid_id = :g ORDER BY d.id DESC LIMIT 1"""),
            {"g": arrival.grid_id}).one()
        elsewhere = s.execute(text(
            """SELECT d.id FROM dwelling d JOIN building b ON b.id = d.building_id WHERE b.grid_id <> :g ORDER BY d.id LIMIT 1"""),
            {"g": arrival.grid_id}).one()
        usernames = {}
        for acc_id in {arrival.assignee_account_id, departure.assignee_account_id}:
            acc = s.get(Account, acc_id)
            acc.password_hash = hash_password(PASSWORD)
            usernames[acc_id] = acc.username
    digits = lambda v: "".join(c for c in v if c.isdigit())  # noqa: E731
    return {"arrival": arrival.id, "arrival_worker": usernames[arrival.assignee_account_id],
            "arrival_worker_id": arrival.assignee_account_id,
            "departure": departure.id, "departure_worker": usernames[departure.assignee_account_id],
            "departure_person": departure.subject_id,
            "dwelling": here.id, "messy": f"{here.compound}{digits(here.building)}-{digits(here.unit)}-{digits(here.room)}",
            "elsewhere": elsewhere.id}


@pytest.fixture(scope="module")
def server(street: dict):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url



def _card(page, order_id: int):  # noqa: ANN001, ANN202
    card = page.locator(f"#order-{order_id}")
    card.wait_for(timeout=30000)
    return card


def test_an_order_says_where_who_why_and_opens_the_map(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, street["departure_worker"], PASSWORD, "/orders", **PHONE)
    card = _card(page, street["departure"])
    body = card.inner_text()
    assert "人走注销" in body
    assert "室" in card.locator(".where").inner_text(), "the standard address down to the room"
    who = " ".join(card.locator(".who").all_inner_texts())
    assert "身份证" in who and "**********" in who, "the ID number masked"
    why = " ".join(card.locator(".why").all_inner_texts())
    assert "最后一次通行" in why and "，" in why and "无通行记录" in why, why
    assert "截止" in body and "发现" in body
    # the card fits the phone's width: nothing to scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    with transaction() as s:
        home = s.scalar(select(Person.home_dwelling_id).where(Person.id == street["departure_person"]))
    card.locator(".actions a").click()
    page.wait_for_url(f"**/drill?place=dwelling:{home}", timeout=30000)
    page.locator("#drill-people").wait_for(timeout=30000)
    page.locator("#deck-map canvas").wait_for(timeout=30000)
    page.close()


def test_a_finding_being_typed_survives_a_reload(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, street["departure_worker"], PASSWORD, "/orders", **PHONE)
    notes = _card(page, street["departure"]).locator("textarea")
    notes.fill("敲门无人，邻居说上周搬走")
    page.wait_for_timeout(300)
    page.reload()
    notes = _card(page, street["departure"]).locator("textarea")
    page.wait_for_function(f"document.querySelector('#order-{street['departure']} textarea').value.length > 0", timeout=15000)
    assert notes.input_value() == "敲门无人，邻居说上周搬走"
    page.close()


def test_a_wrong_check_digit_registers_nobody(server: str, street: dict, browser) -> None:  # noqa: ANN001
    good = valid_id("32010619900307123")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    page = login_page(browser, server, street["arrival_worker"], PASSWORD, "/orders", **PHONE)
    card = _card(page, street["arrival"])
    card.locator(".field-name input").fill("王小明")
    card.locator(".field-id_number input").fill(bad)
    card.locator(".field-address input").fill(street["messy"])
    card.locator("textarea").fill("门口遇到，自称租住")
    card.locator("button.submit").click()
    card.locator(".result .refused").wait_for(timeout=30000)
    assert "check digit" in card.locator(".result").inner_text()
    with transaction() as s:
        assert s.get(WorkOrder, street["arrival"]).status.value == "assigned"
        assert s.scalar(select(Person.id).where(Person.name == "王小明")) is None
    page.close()


def test_a_found_person_is_registered_into_the_dwelling_with_provenance(server: str, street: dict, browser) -> None:  # noqa: ANN001
    number = valid_id("32010619900307123")
    page = login_page(browser, server, street["arrival_worker"], PASSWORD, "/orders", **PHONE)
    card = _card(page, street["arrival"])
    assert "未登记人员" in card.inner_text()
    card.locator(".field-name input").fill("王小明")
    card.locator(".field-id_number input").fill(number)
    card.locator(".field-address input").fill(street["messy"])
    card.locator("textarea").fill("门口遇到，出示身份证，租住本户")
    card.locator("button.submit").click()
    page.wait_for_function(f"document.querySelector('#order-{street['arrival']} .result').innerText.includes('已提交')",
                           timeout=30000)
    assert "3201**********" in card.locator(".result").inner_text()
    with transaction() as s:
        person = s.scalars(select(Person).where(Person.name == "王小明")).one()
        assert person.home_dwelling_id == street["dwelling"]
        assert person.residence_kind.value == "floating" and person.id_masked == number[:4] + "*" * 10 + number[-4:]
        assert person.birth_date == dt.date(1990, 3, 7) and person.sex.value == "M"  # read from the number
        rel = s.scalars(select(Relation).where(Relation.person_id == person.id)).one()
        assert rel.source == f"work_order:{street['arrival']}" and rel.dwelling_id == street["dwelling"]
        order = s.get(WorkOrder, street["arrival"])
        assert order.status.value == "done" and order.correction["kind"] == "register_resident"
        assert number not in json.dumps(order.correction)
        leaked = s.execute(text("SELECT count(*) FROM audit_log WHERE (subject || coalesce(reason, '') || detail::text) LIKE :n"),
                           {"n": f"%{number[6:14]}%"}).scalar_one()
        assert leaked == 0, "the clear ID number is not in the audit log"
    stored = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert number not in stored, "the ID number is not kept on the phone"
    # the person appears in the dwelling, with the order as the source
    page.goto(f"{server}/drill?place=dwelling:{street['dwelling']}")
    table = page.locator("#drill-people")
    table.wait_for(timeout=30000)
    assert "王小明" in table.inner_text() and f"工单 {street['arrival']}" in table.inner_text()
    page.close()


def test_a_dwelling_in_another_grid_is_refused_and_audited(street: dict) -> None:
    from analytics import doorstep
    from core.errors import AccessDenied

    with transaction() as s:
        acc = s.get(Account, street["arrival_worker_id"])
        viewer = Viewer(acc.id, Role.worker, tuple(acc.jurisdiction), acc.username)
        mark = s.scalar(text("SELECT coalesce(max(id), 0) FROM audit_log"))
    order_id = _fresh_arrival_order()
    with pytest.raises(AccessDenied), transaction() as s:
        doorstep.submit(s, viewer, order_id, "register", "试图登记到别的网格",
                        {"name": "李四", "id_number": valid_id("32010619850101234"), "dwelling_id": street["elsewhere"]})
    with transaction() as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.id > mark, AuditLog.action == "access.denied",
                                                     AuditLog.subject == f"dwelling:{street['elsewhere']}")))
        assert len(rows) == 1 and rows[0].username == viewer.username
        assert s.scalar(select(Person.id).where(Person.name == "李四")) is None


def _fresh_arrival_order() -> int:
    """Another open arrival order for the same worker (the first one is closed by the test before)."""
    with transaction() as s:
        row = s.execute(text(
            """SELECT w.* FROM work_order w WHERE w.kind = 'arrival_registration' ORDER BY w.id LIMIT 1""")).one()
        new_id = s.execute(text(
            """INSERT INTO work_order (alert_id, kind, grid_id, assignee_account_id, due_at, status, created_at)
               VALUES (:a, 'arrival_registration', :g, :w, now() + interval '1 day', 'assigned', now()) RETURNING id"""),
            {"a": row.alert_id, "g": row.grid_id, "w": row.assignee_account_id}).scalar_one()
    return new_id


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def test_an_incident_reported_on_the_phone_reaches_the_supervisor_and_the_map(server: str, street: dict, browser,  # noqa: ANN001
                                                                              tmp_path) -> None:
    with transaction() as s:
        g = s.execute(text(
            """SELECT g.id, g.code, g.supervisor_account_id, ST_X(ST_PointOnSurface(g.geom)) AS lon,
                      ST_Y(ST_PointOnSurface(g.geom)) AS lat FROM grid g JOIN account a ON a.id = g.worker_account_id
               WHERE a.username = :u"""), {"u": street["arrival_worker"]}).one()
        sup = s.get(Account, g.supervisor_account_id)
        sup.password_hash = hash_password(PASSWORD)
    context = browser.new_context(viewport=PHONE, geolocation={"longitude": g.lon, "latitude": g.lat}, bypass_csp=True,
                                  permissions=["geolocation"])
    page = context.new_page()
    page.goto(f"{server}/login?next=/orders")
    page.fill("input[name=username]", street["arrival_worker"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.locator("#incident-panel").wait_for(timeout=30000)
    page.locator("#incident-panel summary").click()
    page.locator("#incident-category input[value=fire_hazard]").check()
    page.locator("#incident-description").fill("3号楼楼道电动车充电，飞线")
    page.locator("#incident-locate").click()
    page.wait_for_function("document.querySelector('#incident-where').innerText.startsWith('已定位')", timeout=15000)
    photo = tmp_path / "scene.png"
    photo.write_bytes(PNG)
    page.locator("#incident-photo input[type=file]").set_input_files(str(photo))
    page.locator("#incident-submit").click()
    page.locator("#incident-done").wait_for(timeout=30000)
    context.close()
    with transaction() as s:
        inc = s.execute(text("SELECT id, work_order_id, grid_id, location_source FROM incident WHERE description = :d"),
                        {"d": "3号楼楼道电动车充电，飞线"}).one()
        assert inc.grid_id == g.id and inc.location_source == "phone"
        order = s.get(WorkOrder, inc.work_order_id)
        assert order.assignee_account_id == g.supervisor_account_id and order.kind == "incident"
        assert s.execute(text("SELECT content_type FROM work_order_photo WHERE work_order_id = :o"),
                         {"o": order.id}).scalars().all() == ["image/png"]
    # the supervisor's list has it, in words; the one map has it as its own layer
    page = login_page(browser, server, sup.username, PASSWORD, "/orders")
    card = _card(page, order.id)
    assert "事件上报" in card.inner_text() and "消防隐患：3号楼楼道电动车充电，飞线" in card.inner_text()
    assert "照片 1 张" in card.inner_text()
    page.goto(f"{server}/")
    page.locator("#layer-toggles").wait_for(timeout=30000)
    assert "事件上报" in page.locator("#layer-toggles").inner_text()
    page.close()
    from layers.incidents import incident_rows
    with transaction() as s:
        viewer = Viewer(sup.id, Role.supervisor, tuple(sup.jurisdiction), sup.username)
        assert inc.id in [r["id"] for r in incident_rows(s, viewer)]
