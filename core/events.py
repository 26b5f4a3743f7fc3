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
import re
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


_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_POSITIVE_INT = re.compile(r"^[1-9][0-9]{0,17}$")
OPTIONAL_INTS = ("compound_id", "person_id", "key_site_id")
OPTIONAL_UUIDS = ("pass_id", "stranger_id")


def validate_fields(fields: dict, now: dt.datetime | None = None) -> dict[str, str]:
    """Validate one stream message against the contract and return its fields as text, absent ones as "".

    The ingest hot path writes these strings straight into COPY, so validation checks their shape
    (cheap regexes) rather than building objects; ``parse_fields`` builds a GateEvent from them.
    Pass ``now`` once per batch rather than reading the clock per event.
    """
    f = _as_text(fields)
    record = f.get("event_id") or "event without id"
    if f.get("v", "") != CONTRACT_VERSION:
        raise InvalidEvent(f"unsupported contract version {f.get('v', '')!r} (expected {CONTRACT_VERSION})", record=record)
    event_id = f.get("event_id", "")
    if not event_id:
        raise InvalidEvent("event_id is required", record=record)
    if not _UUID.match(event_id):
        raise InvalidEvent(f"event_id must be a UUID, got {event_id!r}", record=record)
    if event_id.replace("-", "")[12] != "7":
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
    if not _POSITIVE_INT.match(f.get("gate_id", "")):
        raise InvalidEvent(f"gate_id must be a positive integer, got {f.get('gate_id', '')!r}", record=record)
    for name in OPTIONAL_INTS:
        raw = f.get(name, "")
        if raw and not _POSITIVE_INT.match(raw):
            raise InvalidEvent(f"{name} must be a positive integer, got {raw!r}", record=record)
    for name in OPTIONAL_UUIDS:
        raw = f.get(name, "")
        if raw and not _UUID.match(raw):
            raise InvalidEvent(f"{name} must be a UUID, got {raw!r}", record=record)
    if f.get("direction", "") not in DIRECTIONS:
        raise InvalidEvent(f"direction must be in/out, got {f.get('direction', '')!r}", record=record)
    if f.get("method", "") not in METHODS:
        raise InvalidEvent(f"unknown method {f.get('method', '')!r}", record=record)
    if f.get("result", "") not in RESULTS:
        raise InvalidEvent(f"result must be open/deny, got {f.get('result', '')!r}", record=record)
    raw_score = f.get("score", "")
    if raw_score:
        try:
            score = float(raw_score)
        except ValueError:
            raise InvalidEvent(f"score must be a number, got {raw_score!r}", record=record) from None
        if not -1.0 <= score <= 1.0:
            raise InvalidEvent(f"score must lie in [-1, 1], got {score}", record=record)
    reason = f.get("reason", "")
    if len(reason) > 32:
        raise InvalidEvent("reason codes are at most 32 characters", record=record)
    if not f.get("compound_id") and not f.get("key_site_id"):
        raise InvalidEvent("an event belongs to a compound or a key site", record=record)
    return f


def parse_fields(fields: dict, now: dt.datetime | None = None) -> GateEvent:
    """Validate one stream message against the contract; raise InvalidEvent saying what is wrong."""
    f = validate_fields(fields, now)

    def opt_int(name: str) -> int | None:
        return int(f[name]) if f.get(name) else None

    def opt_uuid(name: str) -> uuid.UUID | None:
        return uuid.UUID(f[name]) if f.get(name) else None

    ts = dt.datetime.fromisoformat(f["ts"])
    return GateEvent(
        event_id=uuid.UUID(f["event_id"]), ts=ts if ts.utcoffset() == _ZERO else ts.astimezone(dt.timezone.utc),
        gate_id=int(f["gate_id"]), compound_id=opt_int("compound_id"), direction=f["direction"], method=f["method"],
        result=f["result"], person_id=opt_int("person_id"), pass_id=opt_uuid("pass_id"),
        score=float(f["score"]) if f.get("score") else None, reason=f.get("reason") or None,
        key_site_id=opt_int("key_site_id"), stranger_id=opt_uuid("stranger_id"),
    )
