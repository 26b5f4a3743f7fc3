"""Per-resident rate limits in Redis (a counter per fixed one-hour window), shared by every API process.

While Redis is unreachable the limit is not enforced and a warning is logged: issuing a pass is
written to PostGIS and verified at the gate without Redis, and refusing residents because a cache
is down would be worse than a short window without a limit.
"""
from __future__ import annotations

import logging
import time

import redis

from core.redis_client import RedisLike
from residents.errors import RateLimited

log = logging.getLogger("gridpulse.residents")
WINDOW_S = 3600


def check(client: RedisLike, prefix: str, action: str, person_id: int, limit: int) -> int:
    """Count one more ``action`` by this person in the current window; RateLimited beyond ``limit``."""
    window = int(time.time()) // WINDOW_S
    key = f"{prefix}rl:{action}:{person_id}:{window}"
    try:
        pipe = client.pipeline()
        pipe.incr(key)
        pipe.expire(key, WINDOW_S + 60)
        count = int(pipe.execute()[0])
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("rate limit for %s not enforced, Redis unreachable: %s", action, exc)
        return 0
    if count > limit:
        retry = WINDOW_S - int(time.time()) % WINDOW_S
        raise RateLimited(f"at most {limit} {action} per hour; try again in {retry // 60 + 1} min",
                          record=f"{action} by resident")
    return count
