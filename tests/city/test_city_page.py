"""全市 in real Chromium: the command centre sees every district's figures (residents and the real-time population,
each summed); with one district down it sees the others' and "district N unreachable" instead of an error; a
district account sees its own district only; the police look a mover up across districts by ID number with a
reason (cleared from the page afterwards)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from blockdata.db import transaction
from blockdata.identity import mask_id_number
from blockdata.models import Account
from core.config import settings
from core.passwords import hash_password
from tests.audit import AuditMark
from tests.browser import app_server, login_page
from tests.city.conftest import MOVER, ZHAO

pytestmark = pytest.mark.browser
PASSWORD = "city-page-pass-1234"
ACCOUNTS = {"city-wall": ("street", ["320100000000"]), "gulou-wall": ("street", ["320106000000"]),
            "city-officer": ("police", ["320100000000"])}


@pytest.fixture(scope="module")
def server(districts):  # noqa: ANN001, ANN201
    with transaction() as s:
        for name, (role, juris) in ACCOUNTS.items():
            acc = s.scalars(select(Account).where(Account.username == name)).first()
            if acc is None:
                acc = Account(username=name, display_name=name, role=role, jurisdiction=juris)
                s.add(acc)
            acc.password_hash = hash_password(PASSWORD)
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url


def _districts_shown(page) -> list[str]:  # noqa: ANN001
    page.locator("#city-kpis").wait_for(timeout=30000)
    return [row.get_attribute("data-district") for row in page.locator("#city-kpis tr[data-district]").all()]


def test_the_city_page_shows_every_district_and_a_notice_for_one_that_is_down(server: str, districts, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, "city-wall", PASSWORD, "/city")
    assert _districts_shown(page) == ["320102", "320104", "320106"]
    assert page.locator(".district-down").count() == 0
    assert "实时人口" in page.locator("#city-kpis tr").first.inner_text()
    # 合计: residents 4 + 1 + 3, and the real-time population: all of them inside now (no passage in 48 hours)
    assert page.locator("#city-kpis tr").last.locator("th").all_inner_texts()[1:3] == ["8", "8"]
    districts["C"].stop()
    try:
        page.reload()
        assert _districts_shown(page) == ["320102", "320106"]
        notice = page.locator("#city-notices").inner_text()
        assert "district 320104 unreachable" in notice and "秦淮区" in notice
        assert "合计" in page.locator("#city-kpis").inner_text()
        # the sum of the districts that answered, not a zero for the one that did not
        assert page.locator("#city-kpis tr").last.locator("th").all_inner_texts()[1:3] == ["7", "7"]
    finally:
        districts["C"].start()
    page.close()
    gulou = login_page(browser, server, "gulou-wall", PASSWORD, "/city")
    assert _districts_shown(gulou) == ["320106"]
    assert "玄武区" not in gulou.locator("#city-figures").inner_text()
    assert gulou.locator("#city-run").count() == 0, "the cross-district look-up is for police only"
    gulou.close()


def _city_actions(mark: AuditMark) -> list[str]:
    return [r.action for r in mark.rows(username="city-officer") if r.action.startswith("city.")]


def test_the_police_find_a_mover_s_companions_across_districts(server: str, districts, browser) -> None:  # noqa: ANN001
    mark = AuditMark()
    page = login_page(browser, server, "city-officer", PASSWORD, "/city")
    page.locator("#city-id").fill(MOVER)
    page.locator("#city-reason").fill("案件 2026-0421 流调")
    page.locator("#city-until").fill("2026-11-20")
    page.locator("#city-run").click()
    page.locator("#city-copresence").wait_for(timeout=30000)
    assert page.locator("#city-id").input_value() == "", "the typed ID number is cleared after the look-up"
    assert MOVER not in page.content()
    zhao = page.locator("#city-copresence tr", has_text=mask_id_number(ZHAO)).inner_text()
    assert "赵六" in zhao and "320102、320106" in zhao
    footholds = page.locator("#city-footholds").inner_text()
    assert "玄武区（320102）" in footholds and "60%" in footholds and "40%" in footholds
    assert _city_actions(mark) == ["city.co_presence", "city.footholds"]
    # without a reason: refused on the page, nothing looked up
    page.locator("#city-id").fill(MOVER)
    page.locator("#city-reason").fill("")
    page.locator("#city-run").click()
    page.locator("#city-refused").wait_for(timeout=30000)
    assert "reason" in page.locator("#city-refused").inner_text()
    assert _city_actions(mark) == ["city.co_presence", "city.footholds"]
    page.close()
