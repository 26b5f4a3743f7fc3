"""Prometheus metrics for every GridPulse process (prometheus-client).

Two kinds of figures:

- counted where they happen (decisions, requests, events landed, login failures): prometheus-client
  metrics defined in the stage that counts them. Under gunicorn or uvicorn with several workers each
  worker counts in its own process; ``gridpulse serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` (from
  ``GRIDPULSE_METRICS_DIR``) so one scrape of a service adds up all of its workers.
- read when scraped (stream length, consumer lag, outbox depth, overdue work orders, open alerts):
  :class:`ScrapeCollector` asks Redis or PostgreSQL at scrape time, so every worker reports the same
  truth and nothing has to be kept in step across processes.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger("gridpulse.metrics")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own switch, set by `gridpulse serve`
# Request latency buckets: a QR decision takes ~1 ms, a map callback ~100 ms, a cold page a few seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ScrapeCollector:
    """Figures read at scrape time by ``read()``. A source that cannot be read (the database is down)
    yields ``gridpulse_scrape_error{source=…} 1`` instead of failing the whole scrape."""

    def __init__(self, source: str, read: Callable[[], Iterable[Metric]]) -> None:
        self.source, self.read = source, read

    def collect(self) -> Iterable[Metric]:
        error = GaugeMetricFamily("gridpulse_scrape_error", "1 when a scrape-time source could not be read",
                                  labels=["source"])
        try:
            yield from list(self.read())
            error.add_metric([self.source], 0)
        except Exception as exc:  # noqa: BLE001 - a scrape reports a broken source, it never fails
            log.warning("metrics source %s unreadable: %s", self.source, exc)
            error.add_metric([self.source], 1)
        yield error


class _Union:
    def __init__(self, parts: list) -> None:
        self.parts = parts

    def collect(self) -> Iterable[Metric]:
        for part in self.parts:
            yield from part.collect()


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def render(extra: Iterable[ScrapeCollector] = ()) -> tuple[bytes, str]:
    """The text exposition of this process (or of all workers of this service, in multiprocess mode)
    plus the scrape-time figures."""
    if multiprocess():
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Union([counted, *extra]))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def gauge(name: str, doc: str, labels: list[str], rows: Iterable[tuple[Iterable[str], float]]) -> GaugeMetricFamily:
    """A gauge family from (label values, value) rows, for scrape-time collectors."""
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric([str(v) for v in values], float(value))
    return family


def enable_multiprocess(service: str) -> str:
    """Point prometheus-client's multiprocess mode at ``GRIDPULSE_METRICS_DIR/<service>`` for the worker
    processes started after this call (they read it when they import prometheus-client). One folder per
    service, so the app's scrape never adds up the resident API's workers; emptied first, since the files
    of an earlier run's dead workers would otherwise still be counted."""
    from core.config import ops_settings

    path = ops_settings().metrics_dir / service
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return str(path)
