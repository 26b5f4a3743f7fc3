"""The stream contract between the gate bridge (producer) and the ingest worker (consumer).

Stream ``{prefix}events:{<shard>}``: the braces are literal, so in a Redis Cluster the shard
number is the key's hash tag and every key of one shard lands on one node. shard = compound id
mod GRIDPULSE_STREAM_SHARDS (key sites: their id mod the same N).

Fields (all strings, as Redis stores them): v, event_id (UUIDv7), ts (ISO 8601 UTC), gate_id,
compound_id, direction (in/out), method, result, person_id?, pass_id?, score?, reason?; v1 also
allows key_site_id? and stranger_id?. Empty string = absent.
"""
from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from dataclasses import dataclass

from core.config import settings
from core.errors import InvalidInput

CONTRACT_VERSION = "1"
DIRECTIONS = frozenset({"in", "out"})
METHODS = frozenset({"face", "resident_qr", "visitor_qr", "card", "manual", "count"})
RESULTS = frozenset({"open", "deny"})
_MAX_SKEW = dt.timedelta(days=2)
_ZERO = dt.timedelta(0)  # an event from further in the future is a broken clock, not data


class InvalidEvent(InvalidInput):
    """A stream message that breaks the contract; it goes to the dead-letter stream with this reason."""


def shard_count() -> int:
    return settings().stream_shards


def stream_key(prefix: str, shard: int) -> str:
    return f"{prefix}events:{{{shard}}}"


def shard_of(compound_or_site_id: int, shards: int | None = None) -> int:
    return compound_or_site_id % (shards or shard_count())


def dead_letter_key(prefix: str) -> str:
    return f"{prefix}dead"


def landed_key(prefix: str) -> str:
    """Notices from ingest that new events are stored (what the fast rules wake up on)."""
    return f"{prefix}landed"


def uuid7(ms: int | None = None, rand: bytes | None = None) -> uuid.UUID:
    """A time-ordered UUIDv7 (RFC 9562): 48-bit Unix ms, version 7, 74 random bits."""
    ms = int(time.time() * 1000) if ms is None else ms
    rand = rand if rand is not None else secrets.token_bytes(10)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (int.from_bytes(rand[:2], "big") & 0x0FFF) << 64
    value |= 0b10 << 62
    value |= int.from_bytes(rand[2:10], "big") & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def uuid7_time(event_id: uuid.UUID) -> dt.datetime:
    return dt.datetime.fromtimestamp((event_id.int >> 80) / 1000, tz=dt.timezone.utc)


@dataclass(frozen=True, slots=True)
class GateEvent:
    event_id: uuid.UUID
    ts: dt.datetime
    gate_id: int
    compound_id: int | None
    direction: str
    method: str
    result: str
    person_id: int | None = None
    pass_id: uuid.UUID | None = None
    score: float | None = None
    reason: str | None = None
    key_site_id: int | None = None
    stranger_id: uuid.UUID | None = None

    @property
    def shard_owner(self) -> int:
        owner = self.compound_id if self.compound_id is not None else self.key_site_id
        if owner is None:
            raise InvalidEvent("an event belongs to a compound or a key site", record=str(self.event_id))
        return owner

    def to_fields(self) -> dict[str, str]:
        def s(v: object) -> str:
            return "" if v is None else str(v)

        fields = {
            "v": CONTRACT_VERSION,
            "event_id": str(self.event_id),
            "ts": self.ts.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "gate_id": str(self.gate_id),
            "compound_id": s(self.compound_id),
            "direction": self.direction,
            "method": self.method,
            "result": self.result,
            "person_id": s(self.person_id),
            "pass_id": s(self.pass_id),
            "score": "" if self.score is None else f"{self.score:.4f}",
            "reason": s(self.reason),
            "key_site_id": s(self.key_site_id),
            "stranger_id": s(self.stranger_id),
        }
        # Absent optional fields are left out rather than sent empty: a third less to parse per event.
        return {k: v for k, v in fields.items() if v != ""}


def _as_text(fields: dict) -> dict[str, str]:
    """A client without decode_responses gives bytes keys and values: decode once, up front."""
    if all(type(k) is str and type(v) is str for k, v in fields.items()):
        return fields
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else str(v))
        for k, v in fields.items()
    }


def _opt_int(f: dict[str, str], name: str, record: str) -> int | None:
    raw = f.get(name, "")
    if raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidEvent(f"{name} must be an integer, got {raw!r}", record=record) from None
    if value <= 0:
        raise InvalidEvent(f"{name} must be positive, got {value}", record=record)
    return value


def _opt_uuid(f: dict[str, str], name: str, record: str) -> uuid.UUID | None:
    raw = f.get(name, "")
    if raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidEvent(f"{name} must be a UUID, got {raw!r}", record=record) from None


def parse_fields(fields: dict, now: dt.datetime | None = None) -> GateEvent:
    """Validate one stream message against the contract; raise InvalidEvent saying what is wrong.

    On the ingest hot path: pass ``now`` once per batch rather than reading the clock per event.
    """
    f = _as_text(fields)
    record = f.get("event_id") or "event without id"
    version = f.get("v", "")
    if version != CONTRACT_VERSION:
        raise InvalidEvent(f"unsupported contract version {version!r} (expected {CONTRACT_VERSION})", record=record)
    event_id = _opt_uuid(f, "event_id", record)
    if event_id is None:
        raise InvalidEvent("event_id is required", record=record)
    if event_id.version != 7:
        raise InvalidEvent("event_id must be a UUIDv7 (time-ordered)", record=record)
    raw_ts = f.get("ts", "")
    try:
        ts = dt.datetime.fromisoformat(raw_ts)
    except ValueError:
        raise InvalidEvent(f"ts must be ISO 8601, got {raw_ts!r}", record=record) from None
    if ts.tzinfo is None:
        raise InvalidEvent("ts must carry a time zone (UTC)", record=record)
    if ts > (now or dt.datetime.now(dt.timezone.utc)) + _MAX_SKEW:
        raise InvalidEvent(f"ts {raw_ts} lies in the future", record=record)
    gate_id = _opt_int(f, "gate_id", record)
    if gate_id is None:
        raise InvalidEvent("gate_id is required", record=record)
    direction, method, result = f.get("direction", ""), f.get("method", ""), f.get("result", "")
    if direction not in DIRECTIONS:
        raise InvalidEvent(f"direction must be in/out, got {direction!r}", record=record)
    if method not in METHODS:
        raise InvalidEvent(f"unknown method {method!r}", record=record)
    if result not in RESULTS:
        raise InvalidEvent(f"result must be open/deny, got {result!r}", record=record)
    raw_score = f.get("score", "")
    try:
        score = float(raw_score) if raw_score else None
    except ValueError:
        raise InvalidEvent(f"score must be a number, got {raw_score!r}", record=record) from None
    if score is not None and not -1.0 <= score <= 1.0:
        raise InvalidEvent(f"score must lie in [-1, 1], got {score}", record=record)
    reason = f.get("reason") or None
    if reason is not None and len(reason) > 32:
        raise InvalidEvent("reason codes are at most 32 characters", record=record)
    event = GateEvent(
        event_id=event_id, ts=ts if ts.utcoffset() == _ZERO else ts.astimezone(dt.timezone.utc), gate_id=gate_id,
        compound_id=_opt_int(f, "compound_id", record), direction=direction, method=method, result=result,
        person_id=_opt_int(f, "person_id", record), pass_id=_opt_uuid(f, "pass_id", record), score=score,
        reason=reason, key_site_id=_opt_int(f, "key_site_id", record), stranger_id=_opt_uuid(f, "stranger_id", record),
    )
    event.shard_owner  # noqa: B018 - raises when the event belongs to neither a compound nor a key site
    return event
