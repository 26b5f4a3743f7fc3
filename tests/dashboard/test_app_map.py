"""The plain map page in a real headless Chromium: the viewer's grids and buildings, nothing else."""
from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from core.config import settings
from core.passwords import hash_password
from blockdata.models import Account
from core.viewer import Role, Viewer
from blockdata.db import transaction
from layers.places import buildings_geojson, grids_geojson
from tests import places as P
from tests.browser import app_server, chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def places(database_url: str) -> P.Places:
    with transaction() as session:
        built = P.build(session)
        session.add(Account(username="sup-a", display_name="甲社区网格长", role="supervisor",
                            jurisdiction=[P.COMMUNITY_A], password_hash=hash_password("sup-a-pass")))
        return built


def test_layers_filter_by_jurisdiction(places: P.Places) -> None:
    with transaction() as s:
        street = grids_geojson(s, Viewer(None, Role.street, (P.STREET,)))
        community_b = grids_geojson(s, Viewer(None, Role.supervisor, (P.COMMUNITY_B,)))
        buildings_b = buildings_geojson(s, Viewer(None, Role.supervisor, (P.COMMUNITY_B,)))
    assert [f["id"] for f in street["features"]] == [P.COMMUNITY_A + "001", P.COMMUNITY_A + "002", P.COMMUNITY_B + "001"]
    assert [f["id"] for f in community_b["features"]] == [P.COMMUNITY_B + "001"]
    assert [f["properties"]["code"] for f in buildings_b["features"]] == ["XW-B101"]
    assert street["features"][0]["geometry"]["type"] == "Polygon"


def test_map_page_renders_the_grids_in_chromium(places: P.Places, tmp_path: Path) -> None:
    env = {"GRIDPULSE_DATABASE_URL": settings().database_url}
    with app_server(env) as url, chromium() as browser:
        browser.get(url + "/")
        assert "/login" in browser.current_url  # no session, no map
        browser.find_element(By.NAME, "username").send_keys("sup-a")
        browser.find_element(By.NAME, "password").send_keys("sup-a-pass")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait = WebDriverWait(browser, 30)
        wait.until(EC.text_to_be_present_in_element((By.ID, "grid-count"), "网格"))
        # Community A has two grids and one building; community B's are outside this viewer's jurisdiction.
        assert browser.find_element(By.ID, "grid-count").text == "网格 2"
        assert browser.find_element(By.ID, "building-count").text == "楼栋 1"
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#deck-map canvas")) > 0)
        assert "GridPulse" in browser.title
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
        browser.save_screenshot(str(tmp_path / "map.png"))
