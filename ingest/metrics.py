"""What an ingest worker tells Prometheus: events landed (its rate is events per second), duplicates,
dead letters and retries, counted by this worker; and, read from Redis at scrape time, each stream's
length, what the consumer group still holds (pending, not yet delivered: the lag) and the dead-letter
stream's length."""
from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, Metric

from core.events import dead_letter_key
from core.metrics import ScrapeCollector, gauge
from ingest.worker import GROUP, IngestWorker


def _counters(worker: IngestWorker) -> Iterable[Metric]:
    s = worker.stats
    for name, doc, value in (
        ("gridpulse_ingest_events_landed", "Events stored in PostGIS by this worker", s.stored),
        ("gridpulse_ingest_duplicates", "Redelivered events found already stored", s.duplicates),
        ("gridpulse_ingest_dead_letters", "Malformed events sent to the dead-letter stream", s.dead),
        ("gridpulse_ingest_batches", "Batches landed", s.batches),
        ("gridpulse_ingest_db_retries", "Batches retried after PostgreSQL went away", s.db_retries),
        ("gridpulse_ingest_redis_retries", "Reconnects after Redis went away", s.redis_retries),
    ):
        family = CounterMetricFamily(name, doc, labels=["consumer"])
        family.add_metric([worker.consumer], value)
        yield family


def _streams(worker: IngestWorker) -> Iterable[Metric]:
    lengths, pending, lag = [], [], []
    for key in worker.streams:
        lengths.append(((key,), worker.redis.xlen(key)))
        for group in worker.redis.xinfo_groups(key):
            if group["name"] != GROUP:
                continue
            pending.append(((key,), group["pending"]))
            # Redis ≥ 7: entries not yet delivered to the group (None when Redis cannot tell after a trim).
            lag.append(((key,), group.get("lag") if group.get("lag") is not None else -1))
    yield gauge("gridpulse_stream_length", "Entries in a gate event stream", ["stream"], lengths)
    yield gauge("gridpulse_stream_pending", "Delivered to ingest but not yet acked", ["stream"], pending)
    yield gauge("gridpulse_stream_lag", "Entries the ingest group has not read yet (-1: unknown)", ["stream"], lag)
    dead = dead_letter_key(worker.cfg.redis_prefix)
    yield gauge("gridpulse_dead_letter_length", "Entries in the dead-letter stream", [], [((), worker.redis.xlen(dead))])


def collectors(worker: IngestWorker) -> list[ScrapeCollector]:
    return [ScrapeCollector("ingest", lambda: _counters(worker)), ScrapeCollector("streams", lambda: _streams(worker))]
