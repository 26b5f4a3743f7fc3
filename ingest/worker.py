"""The ingest worker: consumer group ``ingest`` on every events shard → PostGIS, rollups, live state.

Delivery guarantee: at-least-once from Redis, exactly-once in PostGIS. A message is acked only
after the transaction holding its row has committed; a malformed message is acked only after it is
safely in the dead-letter stream. A worker killed at any point leaves its messages pending, where
another worker's XAUTOCLAIM finds them; a replayed message is dropped by the event-id key.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
import redis

from core.config import Settings, settings
from core.redis_client import RedisLike, connect
from core.events import InvalidEvent, dead_letter_key, landed_key, stream_key, validate_fields
from ingest.live_state import LiveState
from ingest.writer import LandedSummary, ensure_partitions, known_gates, land

GROUP = "ingest"
log = logging.getLogger("gridpulse.ingest")

Message = tuple[str, str, dict[str, str]]  # (stream key, message id, fields), decoded by the client


@dataclass
class Stats:
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    batches: int = 0
    claimed: int = 0
    db_retries: int = 0
    redis_retries: int = 0
    started: float = field(default_factory=time.monotonic)


class IngestWorker:
    def __init__(
        self,
        cfg: Settings | None = None,
        *,
        consumer: str | None = None,
        redis_client: RedisLike | None = None,
    ) -> None:
        self.cfg = cfg or settings()
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.redis = redis_client or connect(self.cfg)
        self.streams = [stream_key(self.cfg.redis_prefix, s) for s in range(self.cfg.stream_shards)]
        self.live = LiveState(self.redis, self.cfg.redis_prefix)
        self.stats = Stats()
        self._db: psycopg.Connection | None = None
        self._gates: dict[int, tuple[int | None, int | None]] = {}
        self._last_claim = 0.0
        self._last_trim = 0.0
        self._last_partition_check = 0.0

    # --- connections ------------------------------------------------------------------------

    def db(self) -> psycopg.Connection:
        if self._db is None or self._db.closed:
            self._db = psycopg.connect(self.cfg.psycopg_dsn, connect_timeout=5)
            self._refresh_reference()
        return self._db

    def _refresh_reference(self) -> None:
        conn = self.db()
        self._gates = known_gates(conn)
        conn.commit()

    def ensure_groups(self) -> None:
        for key in self.streams:
            try:
                # From id 0: events published before the first worker ever started are ingested too.
                self.redis.xgroup_create(key, GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # --- reading ----------------------------------------------------------------------------

    def _read(self, block_ms: int, count: int) -> list[Message]:
        out: list[Message] = []
        per_stream_block = max(1, block_ms // len(self.streams))
        for key in self.streams:  # one stream per call: in a Redis Cluster, shards live on different nodes
            reply = self.redis.xreadgroup(GROUP, self.consumer, {key: ">"}, count=count, block=per_stream_block)
            for _stream, messages in reply or []:
                out.extend((key, mid, fields) for mid, fields in messages)
        return out

    def _own_pending(self) -> list[Message]:
        """Messages delivered to this consumer name but never acked (e.g. read just before Redis restarted)."""
        out: list[Message] = []
        for key in self.streams:
            after = "0"
            while True:  # page through the whole pending list, not only its first batch
                reply = self.redis.xreadgroup(GROUP, self.consumer, {key: after}, count=self.cfg.ingest_batch_size)
                messages = reply[0][1] if reply else []
                if not messages:
                    break
                out.extend((key, mid, fields) for mid, fields in messages if fields)
                after = messages[-1][0]
        return out

    def _claim_stranded(self) -> list[Message]:
        """Take over messages left pending by a consumer that stopped acking (presumed dead)."""
        out: list[Message] = []
        for key in self.streams:
            start = "0-0"
            while True:
                next_start, messages, *_ = self.redis.xautoclaim(
                    key, GROUP, self.consumer, min_idle_time=self.cfg.ingest_claim_idle_ms, start_id=start, count=1000
                )
                out.extend((key, mid, fields) for mid, fields in messages if fields is not None)
                start = next_start
                if start == "0-0" or not messages:
                    break
        self.stats.claimed += len(out)
        return out

    # --- processing -------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> None:
        """Validate, land, dead-letter and ack one batch. Raises on DB/Redis errors without acking."""
        good, good_ids, dead = [], [], []
        now = dt.datetime.now(dt.timezone.utc)
        for key, mid, fields in messages:
            try:
                event = validate_fields(fields, now)
                gate_id = int(event["gate_id"])
                if gate_id not in self._gates:
                    self._refresh_reference()  # a gate added since start
                if gate_id not in self._gates:
                    raise InvalidEvent(f"unknown gate {gate_id}", record=event["event_id"])
                good.append(event)
                good_ids.append((key, mid))
            except InvalidEvent as exc:
                dead.append((key, mid, fields, str(exc)))
        landed = land(self.db(), good) if good else LandedSummary()
        self.stats.stored += landed.stored
        self.stats.duplicates += len(good) - landed.stored
        pipe = self.redis.pipeline(transaction=False)
        for key, mid, fields, error in dead:
            entry = {"error": error, "stream": key, "message_id": mid}
            entry.update({f"f:{k}": v for k, v in fields.items()})
            pipe.xadd(dead_letter_key(self.cfg.redis_prefix), entry)
        pipe.execute()  # dead letters are safe before their originals are acked
        by_stream: dict[str, list[str]] = {}
        for key, mid in good_ids + [(k, m) for k, m, _, _ in dead]:
            by_stream.setdefault(key, []).append(mid)
        pipe = self.redis.pipeline(transaction=False)
        for key, ids in by_stream.items():
            pipe.xack(key, GROUP, *ids)
        pipe.execute()
        self.stats.dead += len(dead)
        self.stats.batches += 1
        if landed.stored:
            self.live.apply(landed)
            # Wake the fast rules (analytics sits above ingest, so it is told, never called).
            self.redis.xadd(
                landed_key(self.cfg.redis_prefix),
                {"stored": landed.stored, "compounds": ",".join(map(str, sorted(landed.compounds)))},
                maxlen=10_000, approximate=True,
            )

    def trim(self) -> None:
        """Trim each stream below the oldest entry some group still needs (pending or undelivered)."""
        for key in self.streams:
            floor = None
            for group in self.redis.xinfo_groups(key):
                pending = self.redis.xpending(key, group["name"])
                oldest = pending["min"] if pending["pending"] else group["last-delivered-id"]
                if floor is None or _id_tuple(oldest) < _id_tuple(floor):
                    floor = oldest
            if floor and floor != "0-0":
                self.redis.xtrim(key, minid=floor, approximate=False)

    # --- the loop ---------------------------------------------------------------------------

    def _housekeeping(self) -> list[Message]:
        now = time.monotonic()
        claimed: list[Message] = []
        if now - self._last_claim > self.cfg.ingest_claim_idle_ms / 3000:
            claimed.extend(self._claim_stranded())
            self._last_claim = now
        if now - self._last_trim > 10:
            self.trim()
            self._last_trim = now
        if now - self._last_partition_check > 3600:
            ensure_partitions(self.db(), 1, self.cfg.event_partition_days_ahead)
            self._last_partition_check = now
        return claimed

    def run(self, should_stop: Callable[[], bool] = lambda: False, idle_exit_s: float | None = None) -> Stats:
        """Consume until ``should_stop()``; with ``idle_exit_s``, also stop after that long with nothing to do.

        A reader thread keeps the next batch coming from Redis while this thread lands the current
        one in PostgreSQL, so the two servers work at the same time.
        """
        self.ensure_groups()
        # What this consumer name read but never acked in an earlier life, before new reads start.
        # (Messages stranded by a Redis outage later are idle long enough for XAUTOCLAIM to take.)
        self._process_until_stored(self._own_pending(), should_stop)
        reader = _Prefetcher(self)
        reader.start()
        idle_since = time.monotonic()
        try:
            while not should_stop():
                try:
                    claimed = self._housekeeping()
                    if claimed:
                        self._process_until_stored(claimed, should_stop)
                    try:
                        item = reader.batches.get(timeout=self.cfg.ingest_batch_ms / 1000)
                    except queue.Empty:
                        if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s and not claimed:
                            break
                        continue
                    if isinstance(item, Exception):
                        raise item
                    self._process_until_stored(item, should_stop)
                    idle_since = time.monotonic()
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                    # Redis went away: unacked messages stay pending there; re-read them after reconnecting.
                    self.stats.redis_retries += 1
                    log.warning("redis unavailable (%s); reconnecting", exc)
                    time.sleep(0.5)
                    self._recover_after_redis_outage(reader, should_stop)
        finally:
            reader.stop()
        return self.stats

    def _process_until_stored(self, batch: list[Message], should_stop: Callable[[], bool]) -> None:
        while batch:
            try:
                self.process(batch)
                return
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                # PostgreSQL went away: keep the batch (nothing was acked) and retry once it is back.
                self.stats.db_retries += 1
                log.warning("database unavailable (%s); retrying the batch of %d", exc, len(batch))
                self._db = None
                if should_stop():
                    return
                time.sleep(0.5)

    def _recover_after_redis_outage(self, reader: _Prefetcher, should_stop: Callable[[], bool]) -> None:
        """Re-read what this consumer read but could not ack. The reader is paused meanwhile, so what it
        had fetched is re-read here once (it is pending under this consumer) rather than landed twice."""
        with reader.paused():
            while not should_stop():
                try:
                    self.ensure_groups()
                    self._process_until_stored(self._own_pending(), should_stop)
                    return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    self.stats.redis_retries += 1
                    time.sleep(0.5)  # still down: keep the reader paused and try again


class _Prefetcher(threading.Thread):
    """Reads the next batch while the previous one is being landed (bounded: two batches ahead)."""

    def __init__(self, worker: IngestWorker) -> None:
        super().__init__(name="ingest-reader", daemon=True)
        self.worker = worker
        self.batches: queue.Queue[list[Message] | Exception] = queue.Queue(maxsize=2)
        self._stop_event = threading.Event()
        self._pause = threading.Event()
        self._idle = threading.Event()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop reading, drop what was fetched but not landed (still pending in Redis), resume on exit."""
        self._pause.set()
        self._idle.wait(timeout=10)
        while True:
            try:
                self.batches.get_nowait()
            except queue.Empty:
                break
        try:
            yield
        finally:
            self._pause.clear()

    def run(self) -> None:
        cfg = self.worker.cfg
        while not self._stop_event.is_set():
            if self._pause.is_set():
                self._idle.set()
                self._stop_event.wait(0.05)
                continue
            self._idle.clear()
            try:
                messages = self.worker._read(cfg.ingest_batch_ms, cfg.ingest_batch_size)
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.ResponseError) as exc:
                self._put(exc if not isinstance(exc, redis.ResponseError) else redis.ConnectionError(str(exc)))
                self._stop_event.wait(0.5)
                continue
            if messages:
                self._put(messages)

    def _put(self, item: list[Message] | Exception) -> None:
        while not self._stop_event.is_set() and not self._pause.is_set():
            try:
                self.batches.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
