"""Per-gate rate limits at the bridge: a gate device (or whoever holds its key) may ask for only so many face
decisions a minute. A template endpoint that answers without limit lets a script climb, probe by probe,
towards a resident's template; a camera at a gate sees a person every second or two."""
from __future__ import annotations

import threading
import time


class PerGateLimit:
    """A token bucket per gate: ``per_minute`` requests a minute, in bursts of up to ``per_minute``."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = max(1, per_minute)
        self._rate = self.per_minute / 60.0
        self._buckets: dict[int, tuple[float, float]] = {}  # gate → (tokens, last refill)
        self._lock = threading.Lock()

    def allow(self, gate_id: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(gate_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * self._rate)
            allowed = tokens >= 1.0
            self._buckets[gate_id] = (tokens - 1.0 if allowed else tokens, now)
            return allowed

    def retry_after_s(self) -> int:
        return max(1, int(round(1.0 / self._rate)))
