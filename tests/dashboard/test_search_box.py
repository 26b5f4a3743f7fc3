"""一搜 in the header, in real Chromium: at phone size a worker types an address the messy way and opens the
dwelling; at desktop size the box is on every page; a name from another grid finds nobody.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from core.config import settings
from core.passwords import hash_password
from blockdata.db import transaction
from blockdata.models import Account
from tests.browser import app_server, login_page
from tests.seeded import seed_tiny_swept

pytestmark = pytest.mark.browser
ANCHOR = dt.date(2026, 11, 20)
PASSWORD = "test-pass-1234"


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    seed_tiny_swept(ANCHOR)
    digits = lambda v: "".join(c for c in v if c.isdigit())  # noqa: E731
    with transaction() as s:
        rows = s.execute(text(
            """SELECT g.id AS grid_id, g.worker_account_id, d.id AS dwelling, a.compound, a.building, a.unit, a.room,
                      (SELECT p.name FROM person p WHERE p.home_dwelling_id = d.id ORDER BY p.id LIMIT 1) AS name,
                      (SELECT p.id FROM person p WHERE p.home_dwelling_id = d.id ORDER BY p.id LIMIT 1) AS person
               FROM grid g JOIN building b ON b.grid_id = g.id JOIN dwelling d ON d.building_id = b.id
               JOIN address a ON a.id = d.address_id
               WHERE EXISTS (SELECT 1 FROM person p WHERE p.home_dwelling_id = d.id)
               ORDER BY g.code, d.id""")).all()
        first = rows[0]
        other = next(r for r in rows if r.grid_id != first.grid_id)
        worker = s.get(Account, first.worker_account_id)
        worker.password_hash = hash_password(PASSWORD)
        police = s.execute(text("SELECT id FROM account WHERE username = 'police'")).scalar_one()
        s.get(Account, police).password_hash = hash_password(PASSWORD)
    return {"worker": worker.username, "dwelling": first.dwelling,
            "messy": f"{first.compound}{digits(first.building)}-{digits(first.unit)}-{digits(first.room)}",
            "other_name": other.name, "other_person": other.person}


@pytest.fixture(scope="module")
def server(street: dict):  # noqa: ANN201
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url



def _search(page, query: str) -> None:  # noqa: ANN001
    box = page.locator("#gp-search")
    box.wait_for(timeout=30000)
    box.fill(query)
    box.press("Enter")


def test_a_messy_address_opens_the_dwelling_on_a_phone(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, street["worker"], PASSWORD, "/orders", width=390, height=844)
    _search(page, street["messy"])
    first = page.locator("#gp-search-list li").first
    first.wait_for(timeout=30000)
    assert "房" in first.locator(".search-kind").inner_text()
    first.locator("a.search-open").click()
    page.wait_for_url(f"**/drill?place=dwelling:{street['dwelling']}", timeout=30000)
    page.locator("#drill-people").wait_for(timeout=30000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.close()


def test_a_name_from_another_grid_finds_nobody(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, street["worker"], PASSWORD, "/")
    _search(page, street["other_name"])
    page.locator("#gp-search-results").locator("#gp-search-note, #gp-search-list").first.wait_for(timeout=30000)
    page.wait_for_timeout(300)
    links = page.locator("#gp-search-results a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert f"/drill?place=person:{street['other_person']}" not in links
    page.close()


def test_the_box_is_in_every_page_header(server: str, street: dict, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, "police", PASSWORD, "/police")
    for path in ("/police", "/key-sites", "/drill", "/orders"):
        page.goto(server + path)
        page.locator("header #gp-search").wait_for(timeout=30000)
        assert page.locator("header #gp-search").count() == 1, path
        assert page.locator("header #gp-search").is_visible(), path
    page.close()
