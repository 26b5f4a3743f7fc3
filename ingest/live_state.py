"""Live state in Redis for the map: per-gate in/out/denied by minute over the last hour (the heatmap and
the gate arrows). Nothing of a person is kept here.

Only events the writer reports as new are counted, so redelivery never double-counts here either.
Every key carries a hash tag ``{live}`` so that a Redis Cluster keeps the live state on one node and
a pipeline stays one round trip.
"""
from __future__ import annotations

import datetime as dt

from core.redis_client import RedisLike

from ingest.writer import LandedSummary

MINUTE_TTL_S = 65 * 60  # the heatmap reads the last 60 minutes; keep 5 more for clock skew


def minute_key(prefix: str, minute: dt.datetime) -> str:
    return f"{prefix}live:{{live}}:flow:{int(minute.timestamp()) // 60}"


class LiveState:
    def __init__(self, client: RedisLike, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def apply(self, landed: LandedSummary) -> None:
        pipe = self.client.pipeline(transaction=False)
        for gate_id, epoch_minute, kind, n in landed.flows:
            key = f"{self.prefix}live:{{live}}:flow:{epoch_minute}"  # = minute_key() of that minute
            pipe.hincrby(key, f"{gate_id}:{kind}", n)
            pipe.expire(key, MINUTE_TTL_S)
        pipe.execute()

    def gate_flows(self, minutes: int = 60) -> dict[int, dict[str, int]]:
        """gate id → {"in", "out", "deny"} counts over the last ``minutes`` (what the heatmap shows)."""
        now = dt.datetime.now(dt.timezone.utc)
        pipe = self.client.pipeline(transaction=False)
        for m in range(minutes):
            pipe.hgetall(minute_key(self.prefix, now - dt.timedelta(minutes=m)))
        totals: dict[int, dict[str, int]] = {}
        for fields in pipe.execute():
            for field, n in fields.items():
                gate, kind = (field.decode() if isinstance(field, bytes) else field).split(":")  # either client
                totals.setdefault(int(gate), {"in": 0, "out": 0, "deny": 0})[kind] += int(n)
        return totals
