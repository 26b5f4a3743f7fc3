"""The wall screen's trends: the last 24 hours of population, in/out per hour and open alerts.

Read per refresh from what is already aggregated: ``gate_flow_hour`` (kept by triggers as the ingest
worker lands events, migration 0011) for the viewer's gates, and the alert table (small) for the open
count at each hour's end. The population line is the real-time population now, walked back hour by hour
by the net flow (entries − exits) at the jurisdiction's compound gates: it moves with the gates, and it
ends at the figure of the KPI beside it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer
from layers.gates import visible_gates

HOURS = 24


@dataclass(frozen=True)
class Trends:
    hours: list[dt.datetime]          # the start of each hour, oldest first; the last one is the current hour
    entries: list[int]
    exits: list[int]
    population: list[int]             # at each hour's end (the last: now)
    open_alerts: list[int]            # at each hour's end (the last: now)


def _hours(now: dt.datetime) -> list[dt.datetime]:
    current = now.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return [current - dt.timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]


def wall_trends(session: Session, viewer: Viewer, population_now: int, now: dt.datetime | None = None) -> Trends:
    now = now or dt.datetime.now(dt.timezone.utc)
    hours = _hours(now)
    gates = visible_gates(session, viewer)
    gate_ids = [g["id"] for g in gates]
    rows = session.execute(text(
        "SELECT h.hour, sum(h.entries) AS e, sum(h.exits) AS x, "
        "       sum(h.entries - h.exits) FILTER (WHERE t.compound_id IS NOT NULL) AS net "
        "FROM gate_flow_hour h JOIN gate t ON t.id = h.gate_id "
        "WHERE h.gate_id = ANY(:g) AND h.hour >= :h0 AND h.hour <= :h1 GROUP BY 1"),
        {"g": gate_ids, "h0": hours[0], "h1": hours[-1]}).all()
    by_hour = {r.hour: r for r in rows}
    entries = [int(by_hour[h].e) if h in by_hour else 0 for h in hours]
    exits = [int(by_hour[h].x) if h in by_hour else 0 for h in hours]
    net = [int(by_hour[h].net or 0) if h in by_hour else 0 for h in hours]
    population = [0] * HOURS
    level = population_now
    for i in range(HOURS - 1, -1, -1):  # walk back: before hour i's passages, there were level − net[i]
        population[i] = max(0, level)
        level -= net[i]
    ends = [min(h + dt.timedelta(hours=1), now) for h in hours]
    open_rows = session.execute(text(
        "SELECT e.t, count(a.id) AS n FROM unnest(CAST(:ends AS timestamptz[])) AS e(t) "
        "LEFT JOIN (SELECT a.id, a.created_at, a.status, a.updated_at FROM alert a JOIN grid g ON g.id = a.grid_id "
        "           WHERE g.code LIKE ANY(:p)) a "
        "  ON a.created_at <= e.t AND (a.status IN ('open', 'dispatched') OR a.updated_at > e.t) "
        "GROUP BY e.t ORDER BY e.t"), {"ends": ends, "p": viewer.like_patterns}).all()
    return Trends(hours, entries, exits, population, [int(r.n) for r in open_rows])
