"""Live state in Redis for the map: per-gate in/out by minute (last hour), net flow per compound and
grid, last-seen time per person.

Only events the writer reports as new are counted, so redelivery never double-counts here either.
Every key carries a hash tag ``{live}`` so that a Redis Cluster keeps the live state on one node and
a pipeline stays one round trip.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping

import redis

from ingest.writer import Landed

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
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._set_if_newer = client.register_script(_SET_IF_NEWER)

    def apply(self, landed: Iterable[Landed], compound_grid: Mapping[int, int]) -> None:
        flows: Counter[tuple[str, str]] = Counter()
        net_compound: Counter[int] = Counter()
        net_grid: Counter[int] = Counter()
        seen: dict[int, int] = {}
        now = dt.datetime.now(dt.timezone.utc)
        for e in landed:
            if e.result == "open":
                step = 1 if e.direction == "in" else -1
                if e.compound_id is not None:
                    net_compound[e.compound_id] += step
                    grid = compound_grid.get(e.compound_id)
                    if grid is not None:
                        net_grid[grid] += step
            if now - e.ts <= dt.timedelta(minutes=60):
                kind = e.direction if e.result == "open" else "deny"
                flows[(minute_key(self.prefix, e.ts), f"{e.gate_id}:{kind}")] += 1
            if e.person_id is not None:
                stamp = int(e.ts.timestamp())
                if seen.get(e.person_id, 0) < stamp:
                    seen[e.person_id] = stamp
        pipe = self.client.pipeline(transaction=False)
        for (key, field), n in flows.items():
            pipe.hincrby(key, field, n)
            pipe.expire(key, MINUTE_TTL_S)
        for cid, n in net_compound.items():
            pipe.hincrby(population_key(self.prefix, "compound"), str(cid), n)
        for gid, n in net_grid.items():
            pipe.hincrby(population_key(self.prefix, "grid"), str(gid), n)
        if seen:
            args: list[int] = []
            for pid, stamp in seen.items():
                args += [pid, stamp]
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
                gate, kind = (field.decode() if isinstance(field, bytes) else field).split(":")
                totals.setdefault(int(gate), {"in": 0, "out": 0, "deny": 0})[kind] += int(n)
        return totals

    def net_flow(self, level: str) -> dict[int, int]:
        raw = self.client.hgetall(population_key(self.prefix, level))
        return {int(k): int(v) for k, v in raw.items()}

    def last_seen(self, person_id: int) -> dt.datetime | None:
        raw = self.client.hget(last_seen_key(self.prefix), str(person_id))
        return dt.datetime.fromtimestamp(int(raw), tz=dt.timezone.utc) if raw else None
