"""The app behind a TLS proxy (docs/SECURITY.md): cookies are ``Secure`` whenever the browser's request came
over HTTPS, so a session cookie never travels in clear text afterwards.

The app itself speaks plain HTTP on loopback; the proxy (nginx, Caddy) terminates TLS and says so in
``X-Forwarded-Proto``. That header is believed only with GRIDPULSE_TRUSTED_PROXY=1 (a proxy that sets it on
every request, so a client cannot), or when the app itself is served over TLS. Every cookie the app sets —
the session's, whichever module sets it — gets ``Secure`` on such a request; GRIDPULSE_COOKIE_SECURE=1 makes
it unconditional (a deployment served only over HTTPS)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core.config import settings


def install(server: Flask) -> None:
    """Wrap the app: cookies first (they must see every Set-Cookie, the session's is written after every
    after_request hook), then the trusted proxy's scheme outside it."""
    cfg = settings()
    app: Any = SecureCookies(server.wsgi_app, always=cfg.cookie_secure)
    if cfg.trusted_proxy:
        app = ProxyFix(app, x_proto=1, x_host=1)
    server.wsgi_app = app  # type: ignore[method-assign]


class SecureCookies:
    """WSGI middleware: on an HTTPS request (or always), every Set-Cookie gets ``Secure``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], *, always: bool = False) -> None:
        self.app, self.always = app, always

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not (self.always or environ.get("wsgi.url_scheme") == "https"):
            return self.app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:  # noqa: ANN401
            marked = [(k, secure(v) if k.lower() == "set-cookie" else v) for k, v in headers]
            return start_response(status, marked, exc_info) if exc_info else start_response(status, marked)
        return self.app(environ, start)


def secure(cookie: str) -> str:
    """The Set-Cookie value with ``Secure`` (unchanged when it has it)."""
    return cookie if any(part.strip().lower() == "secure" for part in cookie.split(";")) else f"{cookie}; Secure"
