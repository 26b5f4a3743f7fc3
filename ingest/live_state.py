"""Live state in Redis for the map: per-gate in/out by minute (last hour), net flow per compound and
grid, last-seen time per person.

Only events the writer reports as new are counted, so redelivery never double-counts here either.
Every key carries a hash tag ``{live}`` so that a Redis Cluster keeps the live state on one node and
a pipeline stays one round trip.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping

from core.redis_client import RedisLike

from ingest.writer import LandedSummary

MINUTE_TTL_S = 65 * 60  # the heatmap reads the last 60 minutes; keep 5 more for clock skew

# HSET person ts only when newer: events of one person may arrive out of order across shards.
_SET_IF_NEWER = """
for i = 1, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if (not cur) or tonumber(cur) < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
"""


def minute_key(prefix: str, minute: dt.datetime) -> str:
    return f"{prefix}live:{{live}}:flow:{int(minute.timestamp()) // 60}"


def population_key(prefix: str, level: str) -> str:
    return f"{prefix}live:{{live}}:net:{level}"


def last_seen_key(prefix: str) -> str:
    return f"{prefix}live:{{live}}:lastseen"


class LiveState:
    def __init__(self, client: RedisLike, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._set_if_newer = client.register_script(_SET_IF_NEWER)

    def apply(self, landed: LandedSummary, compound_grid: Mapping[int, int]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for gate_id, epoch_minute, kind, n in landed.flows:
            key = f"{self.prefix}live:{{live}}:flow:{epoch_minute}"
            pipe.hincrby(key, f"{gate_id}:{kind}", n)
            pipe.expire(key, MINUTE_TTL_S)
        net_grid: Counter[int] = Counter()
        for compound_id, n in landed.net_by_compound.items():
            pipe.hincrby(population_key(self.prefix, "compound"), str(compound_id), n)
            grid = compound_grid.get(compound_id)
            if grid is not None:
                net_grid[grid] += n
        for grid_id, n in net_grid.items():
            pipe.hincrby(population_key(self.prefix, "grid"), str(grid_id), n)
        if landed.last_seen:
            args: list[int] = []
            for person_id, stamp in landed.last_seen.items():
                args += [person_id, stamp]
            self._set_if_newer(keys=[last_seen_key(self.prefix)], args=args, client=pipe)
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

    def net_flow(self, level: str) -> dict[int, int]:
        raw = self.client.hgetall(population_key(self.prefix, level))
        return {int(k): int(v) for k, v in raw.items()}

    def last_seen(self, person_id: int) -> dt.datetime | None:
        raw = self.client.hget(last_seen_key(self.prefix), str(person_id))
        return dt.datetime.fromtimestamp(int(raw), tz=dt.timezone.utc) if raw else None
