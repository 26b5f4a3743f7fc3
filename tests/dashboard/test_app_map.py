"""The plain map page in a real headless Chromium: the viewer's grids and buildings, nothing else."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import settings
from core.passwords import hash_password
from blockdata.models import Account
from blockdata.db import transaction
from tests import places as P
from tests.browser import app_server, chromium, submit_login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def places(database_url: str) -> P.Places:
    with transaction() as session:
        built = P.build(session)
        session.add(Account(username="sup-a", display_name="甲社区网格长", role="supervisor",
                            jurisdiction=[P.COMMUNITY_A], password_hash=hash_password("sup-a-pass")))
        return built


def test_map_page_renders_the_grids_in_chromium(places: P.Places, tmp_path: Path) -> None:
    env = {"GRIDPULSE_DATABASE_URL": settings().database_url}
    with app_server(env) as url, chromium() as page:
        page.goto(url + "/")
        assert "/login" in page.url  # no session, no map
        submit_login(page, url, "sup-a", "sup-a-pass", "/")
        page.wait_for_function("(document.getElementById('grid-count') || {}).innerText?.includes('网格')", timeout=30_000)
        # Community A has two grids and one building; community B's are outside this viewer's jurisdiction.
        assert page.inner_text("#grid-count") == "网格 2"
        assert page.inner_text("#building-count") == "楼栋 1"
        page.wait_for_selector("#deck-map canvas", timeout=30_000)
        assert "GridPulse" in page.title()
        assert page.errors == []
        assert page.requests.outside(url) == []
        page.screenshot(path=str(tmp_path / "map.png"))
