"""Real headless Chromium (Debian's chromium, driven by Playwright) and a real app server for page tests.

One browser driver for every page test: Playwright (playwright-core's Python package) with Debian's
chromium, no browser download.
"""
from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("GRIDPULSE_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """`python app.py` in a subprocess on a free port (or the one given); yields its base URL."""
    port = port or free_port()
    full_env = {**os.environ, **env, "GRIDPULSE_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # The server logs a line per request: read them as they come (the last ones kept for an error), or the pipe
    # fills after some 64 KB of log and every server thread blocks on its next log line (a benchmark's hang).
    tail: collections.deque[bytes] = collections.deque(maxlen=400)
    reader = threading.Thread(target=lambda: tail.extend(iter(proc.stdout.readline, b"")), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/login", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    reader.join(timeout=5)
                    out = b"".join(tail).decode(errors="replace")
                    raise RuntimeError(f"app server did not start:\n{out}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


PLAYWRIGHT_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--no-first-run", "--lang=zh-CN", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@contextmanager
def playwright_chromium():  # noqa: ANN201 - a playwright Browser
    """Debian's chromium driven by Playwright, headless; WebGL runs on SwiftShader (no GPU, no download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=PLAYWRIGHT_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class RequestLog:
    """Every URL a page asked for, to prove that nothing left 127.0.0.1."""

    def __init__(self, page) -> None:  # noqa: ANN001
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))

    def outside(self, base_url: str) -> list[str]:
        return [u for u in self.urls if not (u.startswith(base_url + "/") or u.startswith("data:") or u.startswith("blob:"))]


def login_page(browser, base_url: str, username: str, password: str, next_path: str, *, width: int = 1920,  # noqa: ANN001, ANN201
               height: int = 1080, enforce_csp: bool = False):
    """A logged-in page. Playwright's ``wait_for_function`` evaluates strings in the page, which the app's
    Content-Security-Policy forbids; tests of the policy itself pass ``enforce_csp=True``."""
    page = browser.new_page(viewport={"width": width, "height": height}, bypass_csp=not enforce_csp)
    page.requests = RequestLog(page)
    page.goto(f"{base_url}/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    return page


@contextmanager
def chromium(width: int = 1920, height: int = 1080):  # noqa: ANN201 - a playwright Page
    """One fresh page (its own cookies) of the given viewport in headless Chromium; console errors are kept in
    ``page.errors`` so a test can assert there were none."""
    with playwright_chromium() as browser:
        # bypass_csp: the test's own probes (wait_for_function) are evaluated strings, which the app's CSP
        # refuses; the CSP itself is tested in tests/security/test_callbacks_and_headers.py.
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", bypass_csp=True)
        page = context.new_page()
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.requests = RequestLog(page)
        try:
            yield page
        finally:
            context.close()


def submit_login(page, base_url: str, username: str, password: str, next_path: str = "/") -> None:  # noqa: ANN001
    """Fill and send the login form (the caller waits for what should follow)."""
    page.goto(f"{base_url}/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
# --- HTTP sessions (requests) against the real app --------------------------------------------------


def login_form_token(http, base_url: str, next_path: str = "/") -> str:  # noqa: ANN001 - a requests.Session
    """GET the login form as a browser would: its CSRF cookie lands in ``http``; returns the form's token."""
    import re

    form = http.get(f"{base_url}/login", params={"next": next_path}, timeout=20)
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert form.status_code == 200 and found, f"no login form at {base_url}/login: {form.status_code}"
    return found.group(1)


def http_login(base_url: str, username: str, password: str, next_path: str = "/"):  # noqa: ANN201 - requests.Session
    """A logged-in ``requests.Session`` that sends the session's CSRF token with every POST, like Dash does."""
    import requests

    http = requests.Session()
    token = login_form_token(http, base_url, next_path)
    answer = http.post(f"{base_url}/login", data={"username": username, "password": password, "next": next_path,
                                                  "csrf": token}, timeout=30, allow_redirects=False)
    assert answer.status_code == 302, f"login of {username} failed: {answer.status_code} {answer.text[:200]}"
    http.headers["X-CSRFToken"] = http.cookies["_csrf_token"]
    return http
