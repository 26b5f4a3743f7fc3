"""The one map in Chromium shows the compounds (小区) of the viewer's area, outlined and named, under one toggle."""
from __future__ import annotations

import pytest

from core.config import settings
from core.passwords import hash_password
from blockdata.db import transaction
from blockdata.models import Account
from tests import places as P
from tests.browser import app_server, login_page

pytestmark = pytest.mark.browser
PASSWORD = "compound-pass-1"
LAYER = "window.gpMaps['deck-map'].deck.props.layers.find(l => l.id === '{}')"


@pytest.fixture(scope="module")
def server(database_url: str):  # noqa: ANN201
    with transaction() as s:
        P.build(s)
        s.add(Account(username="cmp-sup", display_name="甲社区网格长", role="supervisor", jurisdiction=[P.COMMUNITY_A],
                      password_hash=hash_password(PASSWORD)))
        s.add(Account(username="cmp-worker-a2", display_name="甲二网格员", role="worker",
                      jurisdiction=[P.COMMUNITY_A + "002"], password_hash=hash_password(PASSWORD)))
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url



def test_compounds_outlined_and_named_and_toggled(server: str, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, "cmp-sup", PASSWORD, "/", width=412, height=915)  # a phone
    try:
        page.wait_for_selector("#deck-map[data-loaded='1']", timeout=45000, state="attached")
        for layer_id in ("compounds", "compounds_outline", "compounds_label"):
            assert page.evaluate(f"{LAYER.format(layer_id)}.props.visible"), layer_id
        assert page.evaluate(f"{LAYER.format('compounds_label')}.props.data.map(d => d.name)") == ["测试小区"]
        assert page.evaluate(f"{LAYER.format('compounds')}.props.data[0].tip").startswith("小区 · 测试小区")
        page.get_by_label("小区").uncheck()
        page.wait_for_function(f"!{LAYER.format('compounds_label')}.props.visible && "
                               f"!{LAYER.format('compounds_outline')}.props.visible && !{LAYER.format('compounds')}.props.visible",
                               timeout=10000)
        assert page.evaluate(f"{LAYER.format('grids')}.props.visible")  # the other layers stay
        errors = page.evaluate("document.getElementById('deck-map').dataset.error || ''")
        assert errors == "" and page.requests.outside(server) == []
    finally:
        page.close()


def test_a_worker_of_another_grid_sees_no_compound(server: str, browser) -> None:  # noqa: ANN001
    page = login_page(browser, server, "cmp-worker-a2", PASSWORD, "/")
    try:
        page.wait_for_selector("#deck-map[data-loaded='1']", timeout=45000, state="attached")
        assert page.evaluate(f"{LAYER.format('compounds')}.props.data.length") == 0
        assert page.evaluate(f"{LAYER.format('compounds_label')}.props.data.length") == 0
    finally:
        page.close()
