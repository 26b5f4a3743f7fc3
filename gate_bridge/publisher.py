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
from gate_bridge.replay import nonce_key

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


# Mark a resident code's nonce used and publish the decision in one round trip: the "first use"
# event when the key was new, the "replayed" one when another gate had set it. Returns 1 or 0.
_FIRST_USE = """
local first = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
local n_first, n_repeat = tonumber(ARGV[2]), tonumber(ARGV[3])
local offset, n = 3, n_first
if not first then offset, n = 3 + n_first, n_repeat end
local args = {KEYS[2], '*'}
for i = 1, n do args[#args + 1] = ARGV[offset + i] end
redis.call('XADD', unpack(args))
if first then return 1 else return 0 end
"""


def _flat(fields: dict[str, str]) -> list[str]:
    return [x for pair in fields.items() for x in pair]


class EventPublisher:
    def __init__(self, cfg: Settings | None = None, *, outbox_path: Path | None = None, client: RedisLike | None = None) -> None:
        self.cfg = cfg or settings()
        self.client = client or connect(self.cfg)
        self.outbox = Outbox(outbox_path or self.cfg.key_file.parent / "outbox.sqlite3")
        self._lock = threading.Lock()
        self._queued = self.outbox.depth()  # kept in memory: no SQLite read per event
        self._first_use = None

    def _stream(self, event: GateEvent) -> str:
        return stream_key(self.cfg.redis_prefix, shard_of(event.shard_owner, self.cfg.stream_shards))

    def _queue(self, key: str, fields: dict[str, str]) -> None:
        self.outbox.append(key, fields)
        self._queued += 1

    def publish(self, event: GateEvent) -> bool:
        """True when the event is on its stream now, False when it waits in the outbox."""
        key, fields = self._stream(event), event.to_fields()
        with self._lock:
            if self._queued and not self._flush_locked():
                self._queue(key, fields)
                return False
            try:
                self.client.xadd(key, fields)
                return True
            except _REDIS_DOWN:
                self._queue(key, fields)
                return False

    def publish_first_use(self, nonce: str, ttl_s: int, first: GateEvent, repeat: dict[str, str]) -> bool:
        """Claim a resident code's nonce platform-wide and publish ``first`` (claimed) or ``first``
        with the ``repeat`` fields changed (another gate had it: same event id, the replay's result and
        reason) in one round trip. True when claimed — also when Redis is unreachable: then this
        bridge's local guard has decided and ``first`` waits in the outbox."""
        key = self._stream(first)
        fields = first.to_fields()
        with self._lock:
            if self._queued and not self._flush_locked():
                self._queue(key, fields)
                return True
            try:
                if self._first_use is None:
                    self._first_use = self.client.register_script(_FIRST_USE)
                first_fields, repeat_fields = _flat(fields), _flat({**fields, **repeat})
                return bool(self._first_use(
                    keys=[nonce_key(self.cfg.redis_prefix, shard_of(first.shard_owner, self.cfg.stream_shards), nonce), key],
                    args=[ttl_s, len(first_fields), len(repeat_fields), *first_fields, *repeat_fields]))
            except _REDIS_DOWN:
                self._queue(key, fields)
                return True

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
            self._queued = max(0, self._queued - len(rows))

    def outbox_depth(self) -> int:
        return self.outbox.depth()
