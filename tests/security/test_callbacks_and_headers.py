"""Issue #16 item 11 and the one page guard of issue #20, against the real app server and Chromium:

- a role refused a page calls that page's callbacks directly (the wall's refresh, the audit table,
  the key-site query, the import page's) — refused with 403 and audited, the same rule as the page;
- the page router asked to render a refused page renders the refusal, audited;
- the app in another site's frame; an injected inline script; pages with people in a cache;
- a request body far over the limit, before Dash parses it.
"""
from __future__ import annotations

import http.server
import threading

import pytest
import requests

from tests import places as P
from tests.browser import free_port, login_page, playwright_chromium
from tests.security.dashboard_app import (PASSWORD, audit_since, audit_table, callback, drill, last_audit_id, login, page_router, shown, wall_refresh)

pytestmark = pytest.mark.browser


def key_sites_run(http: requests.Session, url: str) -> requests.Response:
    outs = [{"id": "ks-graph", "property": "figure"}, {"id": "ks-summary", "property": "children"}]
    return callback(http, url, "..ks-graph.figure...ks-summary.children..", outs,
                    [{"id": "ks-run", "property": "n_clicks", "value": 1}],
                    [{"id": "ks-sites", "property": "value", "value": []}, {"id": "ks-day", "property": "date", "value": "2026-11-20"},
                     {"id": "ks-days", "property": "value", "value": 1}, {"id": "ks-bucket", "property": "value", "value": 15}],
                    ["ks-run.n_clicks"])


def imports_settings(http: requests.Session, url: str, output: str) -> requests.Response:
    return callback(http, url, output, {"id": "imports-apply", "property": "disabled"},
                    [{"id": "imports-kind", "property": "value", "value": "people"},
                     {"id": "imports-crs", "property": "value", "value": None},
                     {"id": "imports-mode", "property": "value", "value": "insert"},
                     {"id": "imports-utility", "property": "value", "value": None},
                     {"id": "imports-source", "property": "value", "value": "auto"}], changed=["imports-kind.value"])


@pytest.fixture(scope="module")
def imports_output(server: str, users: dict[str, str]) -> str:
    """The import page's settings callback's output key (Dash hashes allow_duplicate outputs)."""
    deps = login(server, users["admin"]).get(server + "/_dash-dependencies", timeout=20).json()
    return next(d["output"] for d in deps if d["output"].startswith("imports-apply.disabled@"))


# page → (a callback of it, the roles that may open it)
CALLBACKS = {
    "/wall": (lambda h, u, _o: wall_refresh(h, u), {"admin", "street", "supervisor", "police"}),
    "/audit": (lambda h, u, _o: audit_table(h, u), {"admin"}),
    "/key-sites": (lambda h, u, _o: key_sites_run(h, u), {"admin", "street", "police"}),
    "/imports": (imports_settings, {"admin"}),
}


@pytest.mark.parametrize("role", ["admin", "street", "police", "supervisor", "worker"])
def test_each_pages_callbacks_follow_the_pages_roles(server: str, users: dict[str, str], imports_output: str,
                                                    role: str) -> None:
    http = login(server, users[role])
    for page, (call, allowed) in CALLBACKS.items():
        first = last_audit_id()
        answer = call(http, server, imports_output)
        refusals = audit_since(first, "access.denied", users[role])
        if role in allowed:
            assert answer.status_code == 200, (role, page, answer.status_code, answer.text[:200])
            assert refusals == []
        else:
            assert answer.status_code == 403, (role, page, answer.status_code)
            assert "may not use the page" in answer.json()["error"] and "kpi" not in answer.text
            assert [(r.subject, r.detail["via"].split(" ")[0]) for r in refusals] == [(f"page:{page}", "callback")]


def test_the_page_router_renders_a_refusal_for_a_refused_page(server: str, users: dict[str, str]) -> None:
    http = login(server, users["worker"])
    first = last_audit_id()
    answer = page_router(http, server, "/audit")
    assert answer.status_code == 200
    text = shown(answer)
    assert "page-refused" in text and "audit-table" not in text
    assert [(r.subject, r.detail["via"]) for r in audit_since(first, "access.denied", users["worker"])] == [("page:/audit", "page")]
    own = page_router(http, server, "/orders")  # a page of its own renders as before
    assert own.status_code == 200 and "orders-title" in shown(own) and "page-refused" not in shown(own)


def test_an_unknown_or_malformed_callback_is_refused(server: str, users: dict[str, str]) -> None:
    http = login(server, users["worker"])
    unknown = callback(http, server, "secret-output.children", {"id": "secret-output", "property": "children"}, [])
    assert unknown.status_code == 400 and "unknown callback" in unknown.json()["error"]
    garbage = http.post(server + "/_dash-update-component", data=b"\x00not json", timeout=20,
                        headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400


def test_headers_keep_the_app_out_of_frames_caches_and_foreign_scripts(server: str, users: dict[str, str]) -> None:
    http = login(server, users["supervisor"])
    for answer in (http.get(server + "/drill", timeout=20), drill(http, server, f"dwelling:{_dwelling_a1()}"),
                   http.get(server + "/login", timeout=20)):
        assert answer.status_code == 200
        csp = answer.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        assert "'unsafe-inline'" not in directives["script-src"] and "*" not in csp and "http" not in directives["script-src"]
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-store"
    people = drill(http, server, f"dwelling:{_dwelling_a1()}")
    assert "王建国" in shown(people)  # this answer has people in it, and it is no-store (above)
    static = http.get(server + "/assets/gridpulse.css", timeout=20)
    assert static.status_code == 200 and static.headers.get("Cache-Control") != "no-store"


def _dwelling_a1() -> int:
    from sqlalchemy import text

    from blockdata.db import transaction
    with transaction() as s:
        return s.execute(text("SELECT id FROM dwelling WHERE code = 'XW-B001-1-0301'")).scalar_one()


def test_a_body_over_the_limit_is_refused_before_dash_reads_it(server: str, users: dict[str, str]) -> None:
    big = b'{"output": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    anonymous = requests.post(server + "/_dash-update-component", data=big, timeout=30,
                              headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 413 and "over the limit" in anonymous.json()["error"]
    worker = login(server, users["worker"])
    answer = worker.post(server + "/_dash-update-component", data=big, timeout=30, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    login_form = requests.post(server + "/login", data={"username": "x" * (2 * 1024 * 1024)}, timeout=30)
    assert login_form.status_code == 413
    # the administrator's import upload may be larger (it is the import page's own limit that applies)
    admin = login(server, users["admin"])
    assert admin.post(server + "/_dash-update-component", data=big, timeout=30,
                      headers={"Content-Type": "application/json"}).status_code == 400  # read, then: unknown callback


class _FramingSite(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = f'<!doctype html><html><body><iframe id="victim" src="{self.target}/login" width="800" height="600"></iframe></body></html>'
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_args: object) -> None:
        pass


def test_in_chromium_no_frame_no_injected_script_and_the_pages_still_work(server: str, users: dict[str, str]) -> None:
    _FramingSite.target = server
    other = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _FramingSite)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with playwright_chromium() as browser:
            # another site frames the login page (clickjacking): the browser refuses to show it
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{other.server_address[1]}/")
            page.wait_for_timeout(1500)
            frame = page.frame_locator("#victim")
            assert frame.locator("input[name=password]").count() == 0
            page.close()

            violations: list[str] = []
            page = login_page(browser, server, users["supervisor"], PASSWORD, "/", enforce_csp=True)
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.wait_for_selector("#deck-map[data-loaded='1']", timeout=60000, state="attached")  # the map still draws
            assert violations == []  # nothing the app itself needs is blocked
            # an injected inline script (a stored XSS would look like this) does not run
            page.evaluate("""() => { const s = document.createElement('script');
                                     s.textContent = 'window.__injected = 1'; document.body.appendChild(s); }""")
            page.wait_for_timeout(300)
            assert page.evaluate("() => window.__injected === undefined")
            assert any("inline script" in v or "script-src" in v for v in violations), violations
            # a refused page in the browser: the refusal, and no link to it in the navigation
            worker = login_page(browser, server, users["worker"], PASSWORD, "/", enforce_csp=True)
            worker.wait_for_selector("header nav a", timeout=30000)
            assert "指挥中心" not in {a.inner_text() for a in worker.query_selector_all("header nav a")}
            worker.goto(server + "/wall")
            worker.wait_for_selector("#page-refused", timeout=30000)
            assert worker.query_selector("#kpi-population") is None
            # logout is a button posting the session's CSRF token
            worker.click("#logout")
            worker.wait_for_url("**/login", timeout=30000)
            worker.goto(server + "/orders")
            assert "/login" in worker.url
    finally:
        other.shutdown()
