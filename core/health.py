"""Is this process able to do its work? The probes behind every service's ``/healthz``.

A service is healthy when it can reach both PostgreSQL and Redis now: each probe opens (or reuses) a
connection with a short timeout and asks the server one trivial question, so a stopped database answers
503 within ``GRIDPULSE_HEALTH_TIMEOUT_S`` instead of hanging the load balancer's check. A probe never
raises: it says what failed, in one line an operator can act on.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import redis
from redis.cluster import RedisCluster

from core.config import Settings, ops_settings, settings

Probe = Callable[[], str | None]  # None: fine; else what is wrong


@dataclass
class Health:
    ok: bool
    checks: dict[str, str] = field(default_factory=dict)  # name → "ok" or the error

    @property
    def status(self) -> int:
        return 200 if self.ok else 503

    def body(self) -> dict[str, object]:
        return {"status": "ok" if self.ok else "unavailable", "checks": self.checks}


def database_probe(dsn: str, timeout_s: float | None = None) -> Probe:
    """``SELECT 1`` on a fresh connection: the pool of the app may hold connections to a server that has
    since gone; a new one proves the server answers now."""
    timeout = max(1, math.ceil(timeout_s or ops_settings().health_timeout_s))

    def probe() -> str | None:
        try:
            with psycopg.connect(dsn, connect_timeout=timeout, autocommit=True) as conn:
                conn.execute("SELECT 1").fetchone()
            return None
        except psycopg.Error as exc:
            return f"database unreachable: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"

    return probe


def redis_probe(url: str, cluster: bool = False, timeout_s: float | None = None) -> Probe:
    """PING on a client kept for the probe (redis-py reconnects by itself once the server is back)."""
    timeout = timeout_s or ops_settings().health_timeout_s
    options = dict(socket_timeout=timeout, socket_connect_timeout=timeout)
    if cluster or url.startswith("redis+cluster://"):
        client: redis.Redis | RedisCluster = RedisCluster.from_url(url.replace("redis+cluster://", "redis://", 1), **options)
    else:
        client = redis.Redis.from_url(url, **options)

    def probe() -> str | None:
        try:
            client.ping()
            return None
        except (redis.RedisError, OSError) as exc:
            return f"redis unreachable: {exc}"

    return probe


def default_probes(cfg: Settings | None = None) -> dict[str, Probe]:
    """The database and the Redis of the configuration: what every GridPulse service needs."""
    cfg = cfg or settings()
    return {"database": database_probe(cfg.psycopg_dsn), "redis": redis_probe(cfg.redis_url, cfg.redis_cluster)}


def check(probes: dict[str, Probe]) -> Health:
    checks = {name: (probe() or "ok") for name, probe in probes.items()}
    return Health(all(v == "ok" for v in checks.values()), checks)
