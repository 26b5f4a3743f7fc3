"""An open session follows its account: disabled on the 账号 page or by `gridpulse accounts disable`, a logged-in
worker is out at the next request (not when the cookie expires); a changed duty area applies at once.

The attack: keep using a session cookie obtained before the account was disabled."""
from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from cli import main
from core.config import settings
from core.viewer import Role, SYSTEM
from blockdata import accounts
from blockdata.db import transaction
from tests import places as P
from tests.browser import app_server

PASSWORD = "session-pass-1"
GRID_A1, GRID_B1 = P.COMMUNITY_A + "001", P.COMMUNITY_B + "001"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None


@pytest.fixture(scope="module")
def server(database_url: str):  # noqa: ANN201
    with transaction() as s:
        P.build(s)
        accounts.create(s, SYSTEM, username="sess-worker", role=Role.worker, area=[GRID_A1], password=PASSWORD)
    with app_server({"GRIDPULSE_DATABASE_URL": settings().database_url}) as url:
        yield url


def client(url: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect())
    form = urllib.parse.urlencode({"username": "sess-worker", "password": PASSWORD, "next": "/"}).encode()
    try:
        opener.open(url + "/login", data=form, timeout=30)
    except urllib.error.HTTPError as exc:
        assert exc.code == 302, exc.code  # logged in: redirected to the page
    return opener


def status(opener: urllib.request.OpenerDirector, url: str) -> int:
    try:
        return opener.open(url, timeout=60).status
    except urllib.error.HTTPError as exc:
        return exc.code


def grid_codes(opener: urllib.request.OpenerDirector, url: str) -> list[str]:
    raw = opener.open(url + "/layers/grids.json", timeout=60).read()
    rows = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return sorted(r["code"] for r in rows)


def test_a_disabled_account_is_out_at_the_next_request(server: str, capsys) -> None:  # noqa: ANN001
    session = client(server)
    assert status(session, server + "/orders") == 200
    assert grid_codes(session, server) == [GRID_A1]
    assert main(["accounts", "disable", "sess-worker"]) == 0
    capsys.readouterr()
    assert status(session, server + "/orders") == 302  # to the login page
    assert status(session, server + "/layers/grids.json") in (302, 401)
    req = urllib.request.Request(server + "/_dash-update-component", data=b"{}", headers={"Content-Type": "application/json"})
    assert status(session, req) == 401


def test_a_changed_duty_area_applies_to_the_open_session(server: str, capsys) -> None:  # noqa: ANN001
    assert main(["accounts", "enable", "sess-worker"]) == 0
    session = client(server)
    assert grid_codes(session, server) == [GRID_A1]
    assert main(["accounts", "assign", "sess-worker", "--area", GRID_B1]) == 0
    capsys.readouterr()
    assert grid_codes(session, server) == [GRID_B1]
