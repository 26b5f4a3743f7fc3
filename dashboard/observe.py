"""The app's ``/metrics`` and ``/healthz``, and what it counts: page and callback latency, login failures.

Installed before the login guard (dashboard/auth.py), whose ``before_request`` would send a scraper to the
login page: Flask runs ``before_request`` functions in the order they were added, and the first to answer
wins. Neither route shows anything of people; the site in front (deploy/nginx) answers them only to the
monitoring network. Under gunicorn every worker counts in its own process and one scrape adds them up
(prometheus-client's multiprocess mode, ops/gunicorn_conf.py).
"""
from __future__ import annotations

import json
import time

import dash
import flask
from prometheus_client import Counter, Histogram

from analytics.metrics import work_collector
from core.asgi_observe import route_of
from core.health import Probe, check, default_probes
from core.metrics import LATENCY_BUCKETS, render

REQUEST_SECONDS = Histogram("gridpulse_app_request_seconds", "App latency: pages, callbacks (by output), layers",
                            ["kind", "name", "status"], buckets=LATENCY_BUCKETS)
LOGIN_FAILURES = Counter("gridpulse_login_failures_total", "Refused logins (wrong user or password)")
OPEN = ("/metrics", "/healthz")


def _kind_and_name(request: flask.Request) -> tuple[str, str]:
    path = request.path
    if path == "/_dash-update-component":
        body = request.get_json(silent=True) or {}
        return "callback", str(body.get("output", "?"))[:120]
    if path.startswith(("/assets/", "/_dash-component-suites/", "/vendor/", "/_favicon")):
        return "static", path.split("/", 2)[1]
    if path.startswith(("/layers/", "/drill/prefetch", "/login", "/logout", "/_dash")):
        return "route", route_of(path)
    pages = {page["path"] for page in dash.page_registry.values()}
    return "page", path if path in pages else "other"


def install(server: flask.Flask, probes: dict[str, Probe] | None = None) -> None:
    """Call before ``auth.install`` so that the two open routes answer without a session."""
    probes = probes if probes is not None else default_probes()
    collectors = [work_collector()]

    @server.before_request
    def open_routes():  # noqa: ANN202 - a response for the two open routes, else None
        flask.g.gp_started = time.perf_counter()
        if flask.request.method != "GET" or flask.request.path not in OPEN:
            return None
        if flask.request.path == "/metrics":
            body, content_type = render(collectors)
            return flask.Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
        health = check(probes)
        return flask.Response(json.dumps(health.body()), status=health.status, mimetype="application/json",
                              headers={"Cache-Control": "no-store"})

    @server.after_request
    def count(response: flask.Response) -> flask.Response:
        started = flask.g.get("gp_started")
        if started is not None and flask.request.path not in OPEN:
            kind, name = _kind_and_name(flask.request)
            REQUEST_SECONDS.labels(kind, name, str(response.status_code)).observe(time.perf_counter() - started)
        if flask.request.path == "/login" and flask.request.method == "POST" and response.status_code == 401:
            LOGIN_FAILURES.inc()
        return response
