"""Server-side dashboard sessions in Redis: the browser holds only a random token.

A signed cookie that carries the role and jurisdiction lives on after logout (a copy still works) and
keeps the role it was issued with. Here the cookie is a 256-bit random token; Redis holds, under the
token's SHA-256 (a Redis dump does not hand out live cookies), the account id, when it logged in, when
it was last seen and its CSRF token. Logout deletes the record, so every copy of the cookie dies with
it. Who the account is (active, role, jurisdiction) is read from the database on each request by
dashboard/auth.py, so a disabled account or a changed role takes effect on the next request.

Two clocks end a session: idle (``GRIDPULSE_SESSION_MINUTES``) and absolute since login
(``GRIDPULSE_SESSION_ABSOLUTE_HOURS``); the command centre's wall screens have longer ones of each
(``GRIDPULSE_WALL_SESSION_HOURS``, ``GRIDPULSE_WALL_SESSION_ABSOLUTE_HOURS``). The Redis key expires at
the earlier of the two, and the record is checked against both as well (a clock is never trusted to a
key's TTL alone).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.config import settings, trust_settings
from core.redis_client import RedisLike, connect
from core.viewer import Role

TOKEN_BYTES = 32


@dataclass(frozen=True)
class Lifetimes:
    """Seconds of inactivity and seconds since login after which a session ends."""

    idle_s: float
    absolute_s: float


def lifetimes(role: Role) -> Lifetimes:
    """The wall screens (command centre, ``street``) nobody is there to log in again: longer clocks."""
    if role is Role.street:
        return Lifetimes(settings().wall_session_hours * 3600.0, trust_settings().wall_session_absolute_hours * 3600.0)
    return Lifetimes(settings().session_minutes * 60.0, trust_settings().session_absolute_hours * 3600.0)


@dataclass(frozen=True)
class SessionRecord:
    key: str  # the token's hash, the Redis key's suffix
    account_id: int
    created: float
    last_seen: float
    csrf: str

    def expired(self, life: Lifetimes, now: float) -> bool:
        return now - self.last_seen > life.idle_s or now - self.created > life.absolute_s


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class SessionStore:
    """Create, load (and slide), end one, or end every session of an account."""

    def __init__(self, client: RedisLike | None = None, prefix: str | None = None) -> None:
        self._client = client
        self.prefix = (prefix if prefix is not None else settings().redis_prefix) + "{sess}:"

    @property
    def client(self) -> RedisLike:
        if self._client is None:
            self._client = connect()
        return self._client

    def _session_key(self, digest: str) -> str:
        return f"{self.prefix}s:{digest}"

    def _account_key(self, account_id: int) -> str:
        return f"{self.prefix}a:{account_id}"

    def create(self, account_id: int, role: Role, now: float | None = None) -> tuple[str, SessionRecord]:
        """A new session for an account that just proved its password; returns (cookie token, record)."""
        now = time.time() if now is None else now
        token = secrets.token_urlsafe(TOKEN_BYTES)
        record = SessionRecord(_digest(token), account_id, now, now, secrets.token_urlsafe(24))
        life = lifetimes(role)
        pipe = self.client.pipeline()
        pipe.hset(self._session_key(record.key), mapping={
            "account_id": account_id, "created": repr(now), "last_seen": repr(now), "csrf": record.csrf})
        pipe.expire(self._session_key(record.key), max(1, int(min(life.idle_s, life.absolute_s))))
        pipe.sadd(self._account_key(account_id), record.key)
        pipe.expire(self._account_key(account_id), max(1, int(life.absolute_s)) + 60)
        pipe.execute()
        return token, record

    def load(self, token: str | None, role_of: Callable[[int], Role | None],
             now: float | None = None) -> SessionRecord | None:
        """The live session behind a cookie token, its idle clock moved on; None (and the record gone)
        when there is none, it timed out, or ``role_of(account_id)`` says the account may no longer log in."""
        if not token or len(token) > 128:
            return None
        now = time.time() if now is None else now
        digest = _digest(token)
        raw = self.client.hgetall(self._session_key(digest))
        if not raw:
            return None
        record = SessionRecord(digest, int(raw["account_id"]), float(raw["created"]), float(raw["last_seen"]), raw["csrf"])
        role = role_of(record.account_id)
        if role is None or record.expired(lifetimes(role), now):
            self._drop(record)
            return None
        life = lifetimes(role)
        ttl = min(life.idle_s, life.absolute_s - (now - record.created))
        pipe = self.client.pipeline()
        pipe.hset(self._session_key(digest), "last_seen", repr(now))
        pipe.expire(self._session_key(digest), max(1, int(ttl)))
        pipe.execute()
        return SessionRecord(digest, record.account_id, record.created, now, record.csrf)

    def end(self, token: str | None) -> bool:
        """Logout: the record is deleted, so every copy of this cookie stops working at once."""
        if not token:
            return False
        digest = _digest(token)
        account = self.client.hget(self._session_key(digest), "account_id")
        if account is None:
            return False
        self._drop(SessionRecord(digest, int(account), 0.0, 0.0, ""))
        return True

    def end_all(self, account_id: int) -> int:
        """Every session of an account (disabled, password changed): how many there were."""
        keys = list(self.client.smembers(self._account_key(account_id)))
        pipe = self.client.pipeline()
        for digest in keys:
            pipe.delete(self._session_key(digest))
        pipe.delete(self._account_key(account_id))
        results = pipe.execute()
        return sum(int(r) for r in results[:len(keys)])

    def _drop(self, record: SessionRecord) -> None:
        pipe = self.client.pipeline()
        pipe.delete(self._session_key(record.key))
        pipe.srem(self._account_key(record.account_id), record.key)
        pipe.execute()
