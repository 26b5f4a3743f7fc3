"""gunicorn's configuration for the app (`gunicorn -c ops/gunicorn_conf.py app:server`; `gridpulse serve`
starts it so). Everything comes from core/config.py.

gthread workers: a Dash callback spends most of its time waiting on PostGIS, so threads keep a worker
busy while one waits; processes use both cores for the Python around it. Sessions are signed cookies
(or, once the session work lands, server-side in Redis) and every cache of the app is a short-lived
read-through cache, so any worker can answer any request. Each worker counts its own metrics into
``GRIDPULSE_METRICS_DIR/app`` and one scrape of ``/metrics`` adds them up.
"""
from __future__ import annotations

import os

from core.config import ops_settings, settings

_cfg, _ops = settings(), ops_settings()
_metrics = _ops.metrics_dir / "app"
_metrics.mkdir(parents=True, exist_ok=True)
for _old in _metrics.glob("*.db"):  # counts of an earlier run's workers
    _old.unlink(missing_ok=True)
# Set before any worker imports prometheus-client (it picks its storage at import): no preload_app.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics)

bind = [f"{_cfg.host}:{_cfg.port}"]
workers = _ops.app_workers
threads = _ops.app_threads
worker_class = "gthread"
preload_app = False
timeout = 120  # a callback that takes longer is stuck: the worker is replaced
graceful_timeout = 20  # SIGTERM: requests in flight get this long to finish
# Longer than any page's refresh (the wall's 5 s): a keep-alive of 5 s closed idle connections just as a wall
# sent its next refresh on them, and that request failed (bench/serve_bench.py: 1 in 1,315). gthread parks
# idle connections in its poller, not on a thread. nginx in front keeps its own (deploy/nginx).
keepalive = 75
max_requests = 20_000  # recycle workers now and then (a slow leak never grows into an outage)
max_requests_jitter = 2_000
accesslog = None  # request latency is in /metrics; nginx keeps the access log
errorlog = "-"
forwarded_allow_ips = "127.0.0.1,::1"  # nginx on the same machine (deploy/nginx) sets X-Forwarded-*
proc_name = "gridpulse-app"


def post_worker_init(_worker) -> None:  # noqa: ANN001 - gunicorn's hook signature
    from core import logs

    logs.setup("app")


def child_exit(_server, worker) -> None:  # noqa: ANN001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
