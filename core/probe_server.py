"""``/metrics`` and ``/healthz`` for a process that has no HTTP server of its own (an ingest worker, the
scheduler): a small threaded server beside the work, started on a port of the configuration."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from core.health import Probe, check
from core.metrics import ScrapeCollector, render

log = logging.getLogger("gridpulse.probe")


def serve_probes(port: int, probes: dict[str, Probe], collectors: Iterable[ScrapeCollector] = (),
                 host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start answering on ``host:port`` in a daemon thread (it ends with the process); port 0 picks a
    free one (``server.server_port``)."""
    extra = list(collectors)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/metrics":
                body, content_type = render(extra)
                self._answer(200, body, content_type)
            elif self.path == "/healthz":
                health = check(probes)
                self._answer(health.status, json.dumps(health.body()).encode(), "application/json")
            else:
                self._answer(404, b"only /metrics and /healthz here\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:  # scrapes every few seconds would flood the log
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"probes:{server.server_port}", daemon=True).start()
    log.info("metrics and health on http://%s:%d/metrics, /healthz", host, server.server_port)
    return server
