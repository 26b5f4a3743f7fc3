"""Every gate decision onto its Redis stream, or into a local outbox while Redis is unreachable.

The outbox is SQLite in WAL mode on the bridge's own disk: a decision is never lost because the
platform is down, and events are replayed in their original order with their original ids when
Redis answers again (the ingest worker's event-id key makes a replay that overlaps harmless).
While the outbox holds anything, new events queue behind it, so order is kept.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import redis

from core.config import Settings, settings
from core.events import GateEvent, shard_of, stream_key
from core.redis_client import RedisLike, connect

_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT, fields TEXT)")

    def append(self, stream: str, fields: dict[str, str]) -> None:
        self._db.execute("INSERT INTO outbox (stream, fields) VALUES (?, ?)", (stream, json.dumps(fields)))

    def oldest(self, limit: int) -> list[tuple[int, str, dict[str, str]]]:
        rows = self._db.execute("SELECT seq, stream, fields FROM outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(seq, stream, json.loads(fields)) for seq, stream, fields in rows]

    def remove_through(self, seq: int) -> None:
        self._db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))

    def depth(self) -> int:
        return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]


class EventPublisher:
    def __init__(self, cfg: Settings | None = None, *, outbox_path: Path | None = None, client: RedisLike | None = None) -> None:
        self.cfg = cfg or settings()
        self.client = client or connect(self.cfg)
        self.outbox = Outbox(outbox_path or self.cfg.key_file.parent / "outbox.sqlite3")
        self._lock = threading.Lock()

    def publish(self, event: GateEvent) -> bool:
        """True when the event is on its stream now, False when it waits in the outbox."""
        key = stream_key(self.cfg.redis_prefix, shard_of(event.shard_owner, self.cfg.stream_shards))
        fields = event.to_fields()
        with self._lock:
            if self.outbox.depth() and not self._flush_locked():
                self.outbox.append(key, fields)
                return False
            try:
                self.client.xadd(key, fields)
                return True
            except _REDIS_DOWN:
                self.outbox.append(key, fields)
                return False

    def flush(self) -> bool:
        """Replay the outbox in order; True when it is empty afterwards."""
        with self._lock:
            return self._flush_locked()

    def _flush_locked(self, batch: int = 500) -> bool:
        while True:
            rows = self.outbox.oldest(batch)
            if not rows:
                return True
            try:
                pipe = self.client.pipeline(transaction=False)
                for _seq, stream, fields in rows:
                    pipe.xadd(stream, fields)
                pipe.execute()
            except _REDIS_DOWN:
                return False
            self.outbox.remove_through(rows[-1][0])

    def outbox_depth(self) -> int:
        return self.outbox.depth()
