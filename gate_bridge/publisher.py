"""Every gate decision onto its Redis stream, or into a local outbox while Redis is unreachable.

The outbox is SQLite in WAL mode on the bridge's own disk: a decision is never lost because the
platform is down, and events are replayed in their original order with their original ids when
Redis answers again (the ingest worker's event-id key makes a replay that overlaps harmless).
While the outbox holds anything, new events queue behind it, so order is kept.

Decisions taken at the same moment share one round trip (group commit): a thread that finds no
send in flight sends everything waiting, one script call per stream shard; threads arriving
meanwhile wait, and the oldest of them sends their batch next. A lone decision waits for nobody;
under load Redis costs a round trip per batch, not per decision, which is what lets one process
decide more QR codes per second than one Ed25519 check plus one round trip would allow
(bench/gate_bench.py).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import hiredis
import redis
from redis.cluster import RedisCluster

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


# One shard's share of a batch in one command. Per decision: its stream (and for a resident code its
# nonce key) in KEYS; in ARGV its kind ('x' publish, 'f' first use: then the nonce's TTL and the
# count of the replay's changes too), the count of its event's fields and those fields, and for a
# first use the replay's changes (its result and reason). A first use marks the nonce used (SET NX)
# and publishes the event, or, when another gate had the nonce, the same event (same id) with the
# changes put in — built here, on the rare path, so the common one sends each event once. Returns
# 1 (claimed or published) or 0 (replayed) per decision. The script only slices ARGV (unpack is C):
# it costs Redis ~4 µs a decision, not ~14.
_BATCH = """
local out, k, a = {}, 1, 1
while a <= #ARGV do
  local kind, stream = ARGV[a], KEYS[k]
  k = k + 1
  if kind == 'x' then
    local n = tonumber(ARGV[a + 1])
    redis.call('XADD', stream, '*', unpack(ARGV, a + 2, a + 1 + n))
    out[#out + 1] = 1
    a = a + 2 + n
  else
    local ttl, n, n_change = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local from = a + 4
    if redis.call('SET', KEYS[k], '1', 'NX', 'EX', ttl) then
      redis.call('XADD', stream, '*', unpack(ARGV, from, from + n - 1))
      out[#out + 1] = 1
    else
      local fields, at = {unpack(ARGV, from, from + n - 1)}, {}
      for i = 1, n, 2 do at[fields[i]] = i end
      for c = from + n, from + n + n_change - 1, 2 do
        local i = at[ARGV[c]]
        if i then fields[i + 1] = ARGV[c + 1] else fields[#fields + 1] = ARGV[c]; fields[#fields + 1] = ARGV[c + 1] end
      end
      redis.call('XADD', stream, '*', unpack(fields))
      out[#out + 1] = 0
    end
    k = k + 1
    a = from + n + n_change
  end
end
return out
"""
_BATCH_SHA = hashlib.sha1(_BATCH.encode()).hexdigest()
MAX_BATCH = 256  # decisions per script call: Redis runs a script alone, so keep each short (~5 ms)


def _flat(fields: dict[str, str]) -> list[str]:
    return [x for pair in fields.items() for x in pair]


def _script_call(sends: list[_Send]) -> tuple[list[str], list[str | int]]:
    keys: list[str] = []
    args: list[str | int] = []
    for send in sends:
        keys.append(send.stream)
        fields = _flat(send.fields)
        if send.nonce_key is None:
            args += ["x", len(fields), *fields]
        else:
            keys.append(send.nonce_key)
            change = _flat(send.repeat)
            args += ["f", send.ttl_s, len(fields), len(change), *fields, *change]
    return keys, args


def held_lock() -> threading.Lock:
    """A lock taken at birth: its owner blocks on acquire() until another thread releases it — a
    one-shot wake-up at a fraction of a threading.Event's cost (no Condition, no Python-level lock)."""
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class _Send:
    """One decision's event on its way: a plain XADD, or (with a nonce key) the first-use script."""
    stream: str
    fields: dict[str, str]
    nonce_key: str | None = None
    ttl_s: int = 0
    repeat: dict[str, str] = field(default_factory=dict)
    done: bool = False
    result: bool = False
    error: BaseException | None = None  # a reply Redis refused (not an outage): raised in the deciding thread
    wakeup: threading.Lock = field(default_factory=held_lock)  # released to wake the deciding thread


class EventPublisher:
    def __init__(self, cfg: Settings | None = None, *, outbox_path: Path | None = None, client: RedisLike | None = None) -> None:
        self.cfg = cfg or settings()
        self.client = client or connect(self.cfg)
        self.outbox = Outbox(outbox_path or self.cfg.key_file.parent / "outbox.sqlite3")
        self._lock = threading.Lock()  # held by the one thread sending (or replaying the outbox)
        self._waiting: list[_Send] = []
        self._waiting_lock = threading.Lock()  # guards _waiting and _sending
        self._sending = False  # a leader is sending (see _submit)
        self._queued = self.outbox.depth()  # kept in memory: no SQLite read per event
        self._conn: redis.connection.AbstractConnection | None = None  # the sender's own, standalone Redis only
        self._conn_client: RedisLike | None = None

    def _send_for(self, event: GateEvent, claim: tuple[str, int, dict[str, str]] | None = None) -> _Send:
        """The event on its shard's stream; with a claim (nonce, TTL, the replay's fields) a first use."""
        shard = shard_of(event.shard_owner, self.cfg.stream_shards)
        send = _Send(stream_key(self.cfg.redis_prefix, shard), event.to_fields())
        if claim is not None:
            nonce, send.ttl_s, send.repeat = claim
            send.nonce_key = nonce_key(self.cfg.redis_prefix, shard, nonce)
        return send

    def _queue(self, key: str, fields: dict[str, str]) -> None:
        self.outbox.append(key, fields)
        self._queued += 1

    def publish(self, event: GateEvent) -> bool:
        """True when the event is on its stream now, False when it waits in the outbox."""
        return self._submit(self._send_for(event))

    def publish_many(self, items: list[tuple[GateEvent, tuple[str, int, dict[str, str]] | None]]) -> list[bool]:
        """Several events in one round trip, each plain (None) or a first use: (nonce, TTL, the replay's
        fields) claims a resident code's nonce platform-wide and publishes the event when claimed, or
        the event with the replay's fields put in (same event id; another gate had it). Each result
        is True when published (a first use: claimed) — a first use also when Redis is unreachable:
        then this bridge's local guard has decided and the event waits in the outbox. A caller with
        several already holds a batch (qr_batcher.py) and sends it itself rather than queueing
        behind other callers."""
        sends = [self._send_for(event, claim) for event, claim in items]
        if len(sends) == 1:  # a lone decision shares round trips with other callers' (group commit)
            return [self._submit(sends[0])]
        with self._lock:
            self._send_locked(sends)
        for send in sends:
            if send.error is not None:
                raise send.error
        return [send.result for send in sends]

    def _submit(self, send: _Send) -> bool:
        """Send ``send`` with whatever else waits. One thread leads at a time; the others wait on
        their own event. The leader sends one batch, wakes its members and hands the lead to the
        oldest decision still waiting (one wake-up per batch, not a queue of threads passing a lock)."""
        with self._waiting_lock:
            self._waiting.append(send)
            lead, self._sending = not self._sending, True
        if not lead:
            send.wakeup.acquire()  # released when sent, or when asked to lead
        if not send.done:
            with self._waiting_lock:
                batch, self._waiting = self._waiting, []
            try:
                with self._lock:
                    self._send_locked(batch)
            except BaseException as exc:  # the outbox failed too (a full disk): every member hears of it
                for member in batch:
                    if not member.done:
                        member.error, member.done = exc, True
                raise
            finally:
                with self._waiting_lock:
                    if self._waiting:
                        self._waiting[0].wakeup.release()  # the next leader
                    else:
                        self._sending = False
                for member in batch:
                    if member is not send:
                        member.wakeup.release()
        if send.error is not None:
            raise send.error
        return send.result

    def _send_locked(self, batch: list[_Send]) -> None:
        if not (self._queued and not self._flush_locked()):
            try:
                for send, reply in zip(batch, self._pipeline(batch)):
                    if isinstance(reply, Exception):
                        send.error = reply
                    send.result, send.done = not isinstance(reply, Exception) and bool(reply), True
                return
            except _REDIS_DOWN:
                pass
        for send in batch:  # Redis is away (or the outbox still holds older events): keep them in order
            self._queue(send.stream, send.fields)
            send.result, send.done = send.nonce_key is not None, True

    def _pipeline(self, batch: list[_Send]) -> list[object]:
        """One round trip for the batch: a script call per stream shard (its keys share the shard's
        hash tag, so each call stays in one Cluster slot), each reply in its decision's place (an
        error reply too). Calls go by the script's SHA; those Redis answers with NOSCRIPT (it
        restarted or flushed its scripts) are sent again — only those: the others are already on
        their streams — with the script's text, which cannot fail that way and teaches Redis the
        script again."""
        groups: dict[str, list[int]] = {}
        for i, send in enumerate(batch):
            groups.setdefault(send.stream, []).append(i)
        calls = [ids[j:j + MAX_BATCH] for ids in groups.values() for j in range(0, len(ids), MAX_BATCH)]
        replies: list[object] = [None] * len(batch)
        for how, script in (("EVALSHA", _BATCH_SHA), ("EVAL", _BATCH)):
            commands = []
            for ids in calls:
                keys, args = _script_call([batch[i] for i in ids])
                commands.append((how, script, len(keys), *keys, *args))
            forgotten = []
            for ids, reply in zip(calls, self._execute(commands)):
                if isinstance(reply, redis.exceptions.NoScriptError):
                    forgotten.append(ids)
                for n, i in enumerate(ids):
                    replies[i] = reply if isinstance(reply, Exception) else reply[n]
            if not forgotten:
                break
            calls = forgotten
        return replies

    def _execute(self, commands: list[tuple]) -> list[object]:
        """Send the commands in one write and read their replies (an error reply in its place).
        Against a standalone Redis this uses the sender's own connection, not a redis-py pipeline:
        the pipeline's bookkeeping cost 100 µs a round trip, as much as the round trip itself
        (bench/gate_bench.py). A Cluster routes each call to its slot's node through a pipeline."""
        if isinstance(self.client, RedisCluster):
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return pipe.execute(raise_on_error=False)
        if self._conn is None or self._conn_client is not self.client:
            pool = self.client.connection_pool
            self._conn, self._conn_client = pool.connection_class(**pool.connection_kwargs), self.client
        conn = self._conn
        try:  # hiredis packs the arguments (all str or int) in C: redis-py's packer costs 13 µs a decision
            conn.send_packed_command([b"".join(map(hiredis.pack_command, commands))])
            replies: list[object] = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as exc:
                    replies.append(exc)
            return replies
        except BaseException:
            conn.disconnect()  # replies may be left unread: start clean next time
            raise

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
