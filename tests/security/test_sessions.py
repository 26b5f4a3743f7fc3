"""Issue #16 item 9: server-side sessions. Each test performs the attack against the real app server
(`python app.py`, real Redis and PostGIS) and fails if it works again:

- a copy of a session cookie (stolen, or left in another browser) still works after logout;
- a disabled account, or one whose role or jurisdiction was changed, keeps its old rights;
- a session kept busy lives forever (no absolute lifetime), and the wall screens' longer one.
"""
from __future__ import annotations

import base64
import time

import pytest
import requests

from core.viewer import Role
from dashboard.sessions import SessionStore
from tests import places as P
from tests.security.dashboard_app import (audit_since, dashboard, drill, last_audit_id, login, set_account, shown, wall_refresh)

pytestmark = pytest.mark.browser


def _copy(http: requests.Session) -> requests.Session:
    """Another browser holding the same cookies (a stolen copy)."""
    other = requests.Session()
    other.cookies.update(http.cookies)
    other.headers["X-CSRFToken"] = http.headers["X-CSRFToken"]
    return other


def test_logout_ends_the_session_for_every_copy_of_its_cookie(server: str, users: dict[str, str]) -> None:
    http = login(server, users["supervisor"])
    copy = _copy(http)
    assert copy.get(server + "/_dash-layout", timeout=20).status_code == 200
    assert wall_refresh(copy, server).status_code == 200
    # a GET to /logout (a link or an image on another page) does not log anyone out
    assert http.get(server + "/logout", timeout=20, allow_redirects=False).status_code == 405
    assert wall_refresh(copy, server).status_code == 200
    # a logout POST without the session's CSRF token (another site's form) does not either
    forged = requests.post(server + "/logout", cookies=http.cookies, timeout=20, allow_redirects=False)
    assert forged.status_code == 403
    assert wall_refresh(copy, server).status_code == 200

    first = last_audit_id()
    answer = http.post(server + "/logout", data={"csrf": http.headers["X-CSRFToken"]}, timeout=20, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")
    assert [r.action for r in audit_since(first, username=users["supervisor"])] == ["logout"]
    # the copy is dead: pages, layout and callbacks alike
    assert copy.get(server + "/_dash-layout", timeout=20).status_code == 401
    assert wall_refresh(copy, server).status_code == 401
    page = copy.get(server + "/drill", timeout=20, allow_redirects=False)
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_the_cookie_is_an_opaque_token_that_names_no_one(server: str, users: dict[str, str]) -> None:
    http = login(server, users["police"])
    token = http.cookies["gp_session"]
    padded = token + "=" * (-len(token) % 4)
    decoded = base64.urlsafe_b64decode(padded)
    for needle in (users["police"].encode(), b"police", P.STREET.encode()):
        assert needle not in decoded and needle.decode() not in token
    # and the token itself is not a Redis key (a dump of Redis does not hand out live cookies)
    store = SessionStore()
    assert not any(token in key for key in store.client.scan_iter(match=store.prefix + "*", count=500))


def test_disabling_an_account_takes_effect_on_its_next_request(server: str, users: dict[str, str]) -> None:
    http = login(server, users["worker"])
    assert drill(http, server, f"grid:{P.COMMUNITY_A}001").status_code == 200
    set_account(users["worker"], active=False)
    try:
        assert drill(http, server, f"grid:{P.COMMUNITY_A}001").status_code == 401
        assert http.get(server + "/_dash-layout", timeout=20).status_code == 401
    finally:
        set_account(users["worker"], active=True)
    # enabling it again does not revive the old session: it was ended, not suspended
    assert http.get(server + "/_dash-layout", timeout=20).status_code == 401
    assert login(server, users["worker"]).get(server + "/_dash-layout", timeout=20).status_code == 200


def test_a_changed_role_takes_effect_on_its_next_request(server: str, users: dict[str, str]) -> None:
    http = login(server, users["supervisor"])
    assert wall_refresh(http, server).status_code == 200  # supervisors may watch the wall screen
    set_account(users["supervisor"], role=Role.worker, jurisdiction=[P.COMMUNITY_A + "001"])
    try:
        first = last_audit_id()
        refused = wall_refresh(http, server)
        assert refused.status_code == 403
        rows = audit_since(first, "access.denied", users["supervisor"])
        assert [(r.role, r.subject) for r in rows] == [("worker", "page:/wall")]
    finally:
        set_account(users["supervisor"], role=Role.supervisor, jurisdiction=[P.COMMUNITY_A])
    assert wall_refresh(http, server).status_code == 200


def test_a_changed_jurisdiction_takes_effect_on_its_next_request(server: str, users: dict[str, str]) -> None:
    http = login(server, users["supervisor"])
    grid_a1 = f"grid:{P.COMMUNITY_A}001"
    assert "无权" not in shown(drill(http, server, grid_a1))
    set_account(users["supervisor"], jurisdiction=[P.COMMUNITY_B])
    try:
        first = last_audit_id()
        answer = drill(http, server, grid_a1)
        assert answer.status_code == 200 and "无权查看" in shown(answer)
        assert [r.subject for r in audit_since(first, "access.denied", users["supervisor"])] == [grid_a1]
        assert "无权" not in shown(drill(http, server, f"grid:{P.COMMUNITY_B}001"))  # the new one opens
    finally:
        set_account(users["supervisor"], jurisdiction=[P.COMMUNITY_A])


def test_a_busy_session_still_ends_at_its_absolute_lifetime_and_the_wall_screens_later(users: dict[str, str]) -> None:
    # 3.6 s for everyone, 9 s for the wall screens (street); idle timeouts (30 min, 24 h) never come into it
    with dashboard(GRIDPULSE_SESSION_ABSOLUTE_HOURS="0.001", GRIDPULSE_WALL_SESSION_ABSOLUTE_HOURS="0.0025") as url:
        worker, wall = login(url, users["worker"]), login(url, users["street"])
        start = time.monotonic()
        worker_end = wall_end = None
        while time.monotonic() - start < 15 and wall_end is None:
            if worker_end is None and worker.get(url + "/_dash-layout", timeout=20).status_code == 401:
                worker_end = time.monotonic() - start
            if wall.get(url + "/_dash-layout", timeout=20).status_code == 401:
                wall_end = time.monotonic() - start
            time.sleep(0.4)
    assert worker_end is not None and 2.5 <= worker_end <= 6.5, worker_end
    assert wall_end is not None and wall_end > worker_end + 2 and 7 <= wall_end <= 12, (worker_end, wall_end)


def test_an_idle_session_ends_after_the_idle_timeout_and_a_wall_screen_after_its_own(users: dict[str, str]) -> None:
    """The clocks against the real Redis record, at chosen times (30 min idle, 24 h for wall screens)."""
    store = SessionStore()
    t0 = 2_000_000_000.0
    roles = {1: Role.worker, 2: Role.street}
    token, _ = store.create(1, Role.worker, now=t0)
    wall_token, _ = store.create(2, Role.street, now=t0)
    assert store.load(token, roles.get, now=t0 + 29 * 60) is not None  # a request within 30 min slides it
    assert store.load(token, roles.get, now=t0 + 58 * 60) is not None  # 29 min after that request
    assert store.load(token, roles.get, now=t0 + 90 * 60) is None  # 32 min idle: over
    assert store.load(token, roles.get, now=t0 + 91 * 60) is None  # and the record is gone, not just refused
    assert store.load(wall_token, roles.get, now=t0 + 23 * 3600) is not None
    assert store.load(wall_token, roles.get, now=t0 + 48 * 3600) is None  # 25 h idle
    # a session whose account is gone or disabled (role_of → None) ends as well
    other, _ = store.create(3, Role.police, now=t0)
    assert store.load(other, {3: None}.get, now=t0 + 60) is None
