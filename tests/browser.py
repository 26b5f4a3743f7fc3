"""Real headless Chromium (Debian's chromium, driven by Playwright) and a real app server for page tests.

One browser driver for every page test: Playwright (playwright-core's Python package) with Debian's
chromium, no browser download.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
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
                    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
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
               height: int = 1080):
    page = browser.new_page(viewport={"width": width, "height": height})
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
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
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
