"""Single use of resident codes: the first scan of a nonce wins (Redis SET NX, shared by every gate of
the platform); while Redis is down, a local cache of seen nonces keeps the guarantee at this bridge."""
from __future__ import annotations

import threading
import time

import redis

from core.redis_client import RedisLike

_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


class ReplayGuard:
    def __init__(self, client: RedisLike, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, nonce: str, ttl_s: int) -> bool:
        """True the first time a nonce is seen (within its code's lifetime), False on a replay."""
        now = time.monotonic()
        with self._lock:
            self._local = {k: v for k, v in self._local.items() if v > now} if len(self._local) > 10_000 else self._local
            if self._local.get(nonce, 0) > now:
                return False
            self._local[nonce] = now + ttl_s
        try:
            return bool(self.client.set(f"{self.prefix}qr:used:{nonce}", "1", nx=True, ex=max(1, ttl_s)))
        except _REDIS_DOWN:
            return True  # unseen locally and the platform unreachable: the local cache is the guard
