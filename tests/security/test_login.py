"""Issue #16 item 10: the login. Each test performs the attack against the real app server:

- guessing one account's password, or one password on many accounts from one address (throttle);
- telling real usernames from unknown ones by how long the answer takes (timing oracle);
- logging a victim's browser in from another site (CSRF on the login form);
- an open redirect through ``next`` (escapes, backslashes, whitespace, control characters);
- an overlong or odd username (must be a clear, audited refusal, never a 500);
- paths that merely start like the login page getting past the guard.
"""
from __future__ import annotations

import http.client
import re
import statistics
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from core.config import settings
from core.redis_client import connect
from tests import places as P
from tests.browser import login_form_token
from tests.security.dashboard_app import PASSWORD, audit_since, dashboard, last_audit_id, login

pytestmark = pytest.mark.browser
THROTTLE_PREFIX = settings().redis_prefix + "throttle-tests:"


@pytest.fixture(scope="module")
def server(users: dict[str, str]):  # noqa: ANN201
    # The throttle is raised here (every test logs in from 127.0.0.1); its own tests use their own server.
    with dashboard(GRIDPULSE_LOGIN_FAILURES_PER_ADDRESS="100000", GRIDPULSE_LOGIN_FAILURES_PER_ACCOUNT="100000") as url:
        yield url


def _post_login(url: str, username: str, password: str, next_path: str = "/", session: requests.Session | None = None,
                ) -> requests.Response:
    http = session or requests.Session()
    token = login_form_token(http, url, next_path)
    return http.post(url + "/login", data={"username": username, "password": password, "next": next_path, "csrf": token},
                     timeout=30, allow_redirects=False)


# --- throttling, from distinct loopback addresses (127.0.0.0/8 is all this machine) ------------------


def _login_from(url: str, source: str, username: str, password: str) -> tuple[int, str]:
    """The form and the POST from one source address, as a browser on that address would."""
    parts = urlsplit(url)

    def request(method: str, path: str, body: str | None = None, headers: dict | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
        conn.request(method, path, body=body, headers=headers or {})
        return conn.getresponse()

    form = request("GET", "/login")
    page = form.read().decode()
    cookie = re.search(r"gp_login_csrf=([^;]+)", form.getheader("Set-Cookie") or "").group(1)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    body = urlencode({"username": username, "password": password, "next": "/", "csrf": token})
    answer = request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                              "Cookie": f"gp_login_csrf={cookie}"})
    return answer.status, answer.read().decode()


@pytest.fixture(scope="module")
def throttled_server(users: dict[str, str]):  # noqa: ANN201
    client = connect()
    for key in client.scan_iter(match=THROTTLE_PREFIX + "*", count=500):
        client.delete(key)  # this server's own prefix only: a rerun starts with empty counters
    with dashboard(GRIDPULSE_REDIS_PREFIX=THROTTLE_PREFIX, GRIDPULSE_LOGIN_FAILURES_PER_ACCOUNT="3",
                   GRIDPULSE_LOGIN_FAILURES_PER_ADDRESS="6") as url:
        yield url


def test_guessing_one_accounts_password_is_throttled_from_every_address(throttled_server: str, users: dict[str, str]) -> None:
    url, victim = throttled_server, users["police"]
    first = last_audit_id()
    for guess in ("123456", "password", "police2026"):
        assert _login_from(url, "127.0.0.11", victim, guess)[0] == 401
    # the right password now gets a clear refusal, from this address and from any other
    for source in ("127.0.0.11", "127.0.0.12"):
        status, page = _login_from(url, source, victim, PASSWORD)
        assert status == 429 and "该账号登录失败次数过多" in page and "分钟后再试" in page
    rows = audit_since(first, username=victim)
    assert [r.action for r in rows] == ["login.failed"] * 3 + ["login.throttled"] * 2
    assert rows[-1].detail["scope"] == "account" and rows[-1].detail["address"] == "127.0.0.12"
    # another account from a fresh address is not affected
    assert _login_from(url, "127.0.0.13", users["street"], PASSWORD)[0] == 302


def test_spraying_one_password_over_many_usernames_is_throttled_per_address(throttled_server: str,
                                                                           users: dict[str, str]) -> None:
    url = throttled_server
    first = last_audit_id()
    for i in range(6):  # unknown usernames count like known ones
        assert _login_from(url, "127.0.0.21", f"nobody-{i}", "Spring2026!")[0] == 401
    status, page = _login_from(url, "127.0.0.21", users["admin"], PASSWORD)
    assert status == 429 and "该地址登录失败次数过多" in page
    assert audit_since(first, "login.throttled", users["admin"])[0].detail["scope"] == "address"
    assert _login_from(url, "127.0.0.22", users["admin"], PASSWORD)[0] == 302  # only that address


# --- no timing oracle ----------------------------------------------------------------------------


def test_an_unknown_username_costs_the_same_work_as_a_known_one(server: str, users: dict[str, str]) -> None:
    known, unknown = [], []
    http = requests.Session()
    for i in range(8):
        for name, bucket in ((users["supervisor_b"], known), (f"no-such-user-{i}", unknown)):
            token = login_form_token(http, server)
            start = time.perf_counter()
            answer = http.post(server + "/login", data={"username": name, "password": f"wrong-{i}", "csrf": token},
                               timeout=30, allow_redirects=False)
            bucket.append(time.perf_counter() - start)
            assert answer.status_code == 401 and "用户名或密码错误" in answer.text  # the same words, too
    # Without the dummy argon2 check an unknown name answers ~10x faster; the same work keeps them together.
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, (statistics.median(unknown), statistics.median(known))


# --- CSRF on the login form ------------------------------------------------------------------------


def test_a_login_posted_from_another_site_is_refused(server: str, users: dict[str, str]) -> None:
    # another site's form: it cannot read our form's token or our cookie, so it posts without them
    bare = requests.post(server + "/login", data={"username": users["worker"], "password": PASSWORD, "next": "/"},
                         timeout=30, allow_redirects=False)
    assert bare.status_code == 403 and "gp_session" not in bare.cookies
    # a token from the attacker's own visit to the form does not match the victim's cookie
    attacker = requests.Session()
    stolen = login_form_token(attacker, server)
    victim = requests.Session()
    login_form_token(victim, server)
    forged = victim.post(server + "/login", data={"username": users["worker"], "password": PASSWORD, "csrf": stolen},
                         timeout=30, allow_redirects=False)
    assert forged.status_code == 403 and "gp_session" not in victim.cookies
    assert _post_login(server, users["worker"], PASSWORD).status_code == 302  # with its own token: fine


def test_callbacks_need_the_sessions_csrf_token(server: str, users: dict[str, str]) -> None:
    http = login(server, users["worker"])
    body = {"output": "orders-title.children", "outputs": {"id": "orders-title", "property": "children"},
            "inputs": [], "state": [], "changedPropIds": []}
    without = requests.post(server + "/_dash-update-component", json=body, cookies=http.cookies, timeout=20)
    wrong = requests.post(server + "/_dash-update-component", json=body, cookies=http.cookies, timeout=20,
                          headers={"X-CSRFToken": "x" * 32})
    assert without.status_code == 403 and wrong.status_code == 403
    assert "CSRF" in without.json()["error"]


# --- next: no open redirect ------------------------------------------------------------------------

HOSTILE_NEXT = [
    "https://evil.example/", "//evil.example/", "///evil.example/", "/\\evil.example", "\\\\evil.example",
    "/\\/evil.example", " //evil.example", "\t//evil.example", "/\t/evil.example", "/%2F%2Fevil.example",
    "%2F%2Fevil.example", "/%5Cevil.example", "//evil.example/%2e%2e", "/drill\r\nLocation: https://evil.example",
    "/drill\x00//evil.example", "javascript:alert(1)", "/drill?place=grid:1#//evil.example", "http:evil.example",
    "/drill?x=\"><script>alert(1)</script>", "/drill?next=//evil.example\\@", "／／evil.example", "/\u2028//evil.example",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_never_leaves_the_app(server: str, users: dict[str, str], target: str) -> None:
    answer = _post_login(server, users["street"], PASSWORD, target)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    parts = urlsplit(location)
    assert parts.netloc in ("", urlsplit(server).netloc), location
    assert parts.path.startswith("/") and not parts.path.startswith("//") and "\\" not in location, location
    assert not any(c in location for c in "\r\n\t\x00 <>\"") and "evil" not in location, location


def test_a_plain_next_inside_the_app_is_kept(server: str, users: dict[str, str]) -> None:
    target = f"/drill?place=grid:{P.COMMUNITY_A}001"
    answer = _post_login(server, users["street"], PASSWORD, target)
    assert answer.status_code == 302 and answer.headers["Location"] in (target, server + target)
    # and a page with no session sends the browser to the login with the page as next
    redirect = requests.get(server + target, timeout=20, allow_redirects=False)
    assert redirect.status_code == 302
    parts = urlsplit(redirect.headers["Location"])
    assert parts.path == "/login" and parse_qs(parts.query)["next"] == [target]


# --- odd usernames -----------------------------------------------------------------------------------

ODD_USERNAMES = ["a" * 65, "x" * 10_000, "admin\x00", "ad\nmin", "ad\rmin", "\u202eadmin", "管理员", "admin' OR '1'='1",
                 "<script>alert(1)</script>", "a\tb", "😀"]


@pytest.mark.parametrize("username", ODD_USERNAMES, ids=range(len(ODD_USERNAMES)))
def test_an_odd_or_overlong_username_is_a_clear_audited_refusal(server: str, username: str) -> None:
    first = last_audit_id()
    answer = _post_login(server, username, "whatever")
    assert answer.status_code == 400, answer.text[:200]
    found = re.search(r'<p class="error" id="login-error">([^<]+)</p>', answer.text)
    assert found and ("用户名过长" in found.group(1) or "用户名只能包含" in found.group(1))
    assert "<script>" not in answer.text.split("<form", 1)[1]  # never echoed back as markup
    rows = audit_since(first, "login.refused")
    assert len(rows) == 1 and rows[0].detail["why"] == found.group(1)
    assert len(rows[0].subject) <= 128


# --- the guard lets through only the login page itself -------------------------------------------------

LOOKALIKES = ["/loginx", "/login/", "/login/../audit", "/login.json", "/logout-now", "/assets", "/assetsx/gridpulse.css",
              "/_dash-component-suitesx/x.js", "/favicon.icox", "/_dash-layout", "/_dash-dependencies", "/vendor/deck.js",
              "/layers/grids.json", "/LOGIN"]


@pytest.mark.parametrize("path", LOOKALIKES)
def test_paths_that_only_look_like_open_ones_need_a_session(server: str, path: str) -> None:
    answer = requests.get(server + path, timeout=20, allow_redirects=False)
    if answer.status_code == 302:
        assert urlsplit(answer.headers["Location"]).path == "/login"
    else:
        assert answer.status_code in (401, 404), (answer.status_code, answer.text[:200])
    assert "GridPulse 一张图" not in answer.text and "_dash-config" not in answer.text  # the app's shell is not served
