"""One way to connect to Redis, standalone or Cluster, so every stage handles both alike.

Set GRIDPULSE_REDIS_CLUSTER=1 (or use a ``redis+cluster://`` URL) for a Redis Cluster: keys carry
hash tags (``{3}`` for a stream shard, ``{live}`` for live state), so one shard and the live state
each stay on one node and their pipelines and scripts remain single-slot.
"""
from __future__ import annotations

import redis
from redis.cluster import RedisCluster

from core.config import Settings, settings

RedisLike = redis.Redis | RedisCluster


def connect(cfg: Settings | None = None, *, decode: bool = True, url: str | None = None) -> RedisLike:
    cfg = cfg or settings()
    url = url or cfg.redis_url
    options = dict(socket_timeout=5, socket_connect_timeout=3, decode_responses=decode)
    if cfg.redis_cluster or url.startswith("redis+cluster://"):
        return RedisCluster.from_url(url.replace("redis+cluster://", "redis://", 1), **options)
    return redis.Redis.from_url(url, **options)
