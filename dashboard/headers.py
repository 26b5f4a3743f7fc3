"""Response headers of every answer, and the request-size limit checked before Dash reads a body.

- ``Content-Security-Policy``: scripts, styles, data and frames only from the app's own origin (the
  map is served offline already: dashboard/vendor.py). Dash's few inline scripts (the renderer's
  start, inline clientside callbacks) are allowed by their hashes (``Dash.csp_hashes``), never by
  ``'unsafe-inline'``; the optional base map's tile server is the one other origin, for images only.
- ``X-Frame-Options: DENY`` and ``frame-ancestors 'none'``: no page in someone else's frame.
- ``Cache-Control: no-store`` on everything but static files and the big layers (which carry places,
  no people): pages, callbacks and exports that show people never sit in a browser's or proxy's cache.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import dash
import flask

from core.config import settings

CACHEABLE_PREFIXES = ("/assets/", "/_dash-component-suites/", "/vendor/", "/layers/")


def _basemap_origin() -> str:
    parts = urlsplit(settings().basemap_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def content_security_policy(app: dash.Dash) -> str:
    tiles = _basemap_origin()
    directives = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", *app.csp_hashes()]),
        "style-src": "'self' 'unsafe-inline'",  # Dash components set inline style attributes
        "img-src": " ".join(x for x in ("'self'", "data:", "blob:", tiles) if x),
        "connect-src": " ".join(x for x in ("'self'", tiles) if x),
        "worker-src": "'self' blob:",
        "font-src": "'self' data:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{k} {v}" for k, v in directives.items())


def install(app: dash.Dash) -> None:
    server = app.server

    @server.after_request
    def headers(response: flask.Response) -> flask.Response:
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Security-Policy"] = content_security_policy(app)
        if not flask.request.path.startswith(CACHEABLE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        return response
