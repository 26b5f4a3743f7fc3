"""Single use of resident codes: the first scan of a nonce wins.

Two guards: a local cache of nonces seen at this bridge (which holds alone while Redis is
unreachable), and platform-wide a Redis key set with NX, which the publisher sets in the same round
trip as the decision's event (a first use in publisher.publish_many), so a resident-code decision costs one
round trip to Redis, not two. The key carries the event stream's hash tag, so in a Redis Cluster it
lives in the stream's slot and the script touching both is allowed.
"""
from __future__ import annotations

import heapq
import threading
import time


def nonce_key(prefix: str, shard: int, nonce: str) -> str:
    return f"{prefix}qr:used:{{{shard}}}:{nonce}"


class ReplayGuard:
    """Nonces seen here, each until its code's lifetime ends. Expired ones leave through a heap of
    expiry times, a few per call: pruning by rebuilding the whole map once it passed a size cost a
    millisecond per decision at the rate a busy gate group reaches (more live nonces than the cap)."""

    def __init__(self) -> None:
        self._local: dict[str, float] = {}
        self._expiries: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def first_here(self, nonce: str, ttl_s: int) -> bool:
        """True the first time this bridge sees the nonce within its code's lifetime (and marks it)."""
        now = time.monotonic()
        with self._lock:
            while self._expiries and self._expiries[0][0] <= now:
                _, old = heapq.heappop(self._expiries)
                if self._local.get(old, now + 1) <= now:
                    del self._local[old]
            if self._local.get(nonce, 0) > now:
                return False
            self._local[nonce] = now + ttl_s
            heapq.heappush(self._expiries, (now + ttl_s, nonce))
        return True

    def __len__(self) -> int:
        return len(self._local)
