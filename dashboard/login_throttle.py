"""Failed logins counted per account and per client address in Redis, shared by every app process.

Beyond ``GRIDPULSE_LOGIN_FAILURES_PER_ACCOUNT`` failures for one username, or
``GRIDPULSE_LOGIN_FAILURES_PER_ADDRESS`` from one address, within ``GRIDPULSE_LOGIN_WINDOW_MINUTES``,
a login is refused before its password is looked at: guessing one account's password, or trying one
password on many accounts, both stall. Unknown usernames are counted exactly like known ones, so the
throttle does not tell which usernames exist. The window starts at the first failure; a successful
login clears the account's count (not the address's).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from core.config import settings, trust_settings
from core.redis_client import RedisLike, connect


@dataclass(frozen=True)
class Throttled:
    """Which counter is full and when it empties (seconds)."""

    scope: str  # "account" or "address"
    retry_s: int

    @property
    def message(self) -> str:
        who = "该账号" if self.scope == "account" else "该地址"
        return f"{who}登录失败次数过多，请 {max(1, (self.retry_s + 59) // 60)} 分钟后再试"


class LoginThrottle:
    def __init__(self, client: RedisLike | None = None, prefix: str | None = None) -> None:
        self._client = client
        self.prefix = (prefix if prefix is not None else settings().redis_prefix) + "{login}:"

    @property
    def client(self) -> RedisLike:
        if self._client is None:
            self._client = connect()
        return self._client

    def _keys(self, username: str, address: str) -> dict[str, str]:
        user = hashlib.sha256(username.casefold().encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return {"account": f"{self.prefix}u:{user}", "address": f"{self.prefix}ip:{address}"}

    def _limits(self) -> dict[str, int]:
        cfg = trust_settings()
        return {"account": cfg.login_failures_per_account, "address": cfg.login_failures_per_address}

    def blocked(self, username: str, address: str) -> Throttled | None:
        """A full counter for this username or address, or None when the login may be tried."""
        keys = self._keys(username, address)
        pipe = self.client.pipeline()
        for key in keys.values():
            pipe.get(key)
            pipe.ttl(key)
        values = pipe.execute()
        for i, (scope, limit) in enumerate(self._limits().items()):
            count, ttl = values[2 * i], values[2 * i + 1]
            if count is not None and int(count) >= limit:
                return Throttled(scope, max(int(ttl), 1))
        return None

    def failed(self, username: str, address: str) -> None:
        window = trust_settings().login_window_minutes * 60
        pipe = self.client.pipeline()
        for key in self._keys(username, address).values():
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        pipe.execute()

    def succeeded(self, username: str, address: str) -> None:
        self.client.delete(self._keys(username, address)["account"])
