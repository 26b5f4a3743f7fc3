"""In front of an ASGI service (a gate bridge, the resident services): ``GET /metrics``, ``GET /healthz``
and a latency histogram of every request, without touching the service's own routes.

It sits outermost, so it also times what an inner fast path answers before the framework sees it (the
bridge's QR fast lane). ``on_response`` lets a service count what its answers say (the bridge counts
decisions by method and result from the decision it sent) without a second copy of its logic.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.health import Probe, check
from core.metrics import LATENCY_BUCKETS, ScrapeCollector, render

REQUEST_SECONDS = Histogram("gridpulse_http_request_seconds", "HTTP request latency by service, route and status",
                            ["service", "route", "method", "status"], buckets=LATENCY_BUCKETS)
_ID = re.compile(r"/(\d+|[0-9a-fA-F-]{32,36})(?=/|$)")

ResponseHook = Callable[[str, int, bytes, float], None]  # path, status, body, seconds


def route_of(path: str) -> str:
    """A path with its ids folded (``/v1/gates/17/qr`` → ``/v1/gates/{id}/qr``): one series per route."""
    return _ID.sub("/{id}", path)


class Observed:
    def __init__(self, app: ASGIApp, service: str, probes: dict[str, Probe], *,
                 collectors: Iterable[ScrapeCollector] = (), on_response: ResponseHook | None = None,
                 body_routes: tuple[str, ...] = ()) -> None:
        self.app, self.service, self.probes = app, service, probes
        self.collectors = list(collectors)
        self.on_response, self.body_routes = on_response, body_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if scope["method"] == "GET" and path in ("/metrics", "/healthz"):
            await (self._metrics(send) if path == "/metrics" else self._health(send))
            return
        route = route_of(path)
        keep_body = self.on_response is not None and route.endswith(self.body_routes)
        status, chunks = [500], []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif keep_body and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, watch)
        finally:
            seconds = time.perf_counter() - started
            REQUEST_SECONDS.labels(self.service, route, scope["method"], str(status[0])).observe(seconds)
            if keep_body and self.on_response is not None:
                self.on_response(path, status[0], b"".join(chunks), seconds)

    async def _metrics(self, send: Send) -> None:
        body, content_type = render(self.collectors)
        await _respond(send, 200, body, content_type)

    async def _health(self, send: Send) -> None:
        from starlette.concurrency import run_in_threadpool

        health = await run_in_threadpool(check, self.probes)  # probes block; the loop keeps deciding
        await _respond(send, health.status, json.dumps(health.body()).encode(), "application/json")


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
