"""What the wall screen and the map refresh: KPIs, the alert ticker and the live layers' rows.

Read per refresh for the session's viewer. The real-time population is the one PostGIS keeps as
events land (analytics/population.py ``live_population``: per-building counters, the viewer's
jurisdiction applied before summing), a few milliseconds, so it is read fresh each time; the flows
come from the live state in Redis (one pipeline) and cost a few milliseconds too.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.population import live_population, live_totals
from core.config import local_tz, settings
from core.redis_client import connect
from core.viewer import Viewer
from core.vocab import RuleName, Severity
from ingest.live_state import LiveState
from layers.alerts import alert_rows
from layers.gates import Flows, arrow_rows, gate_rows, heat_rows, visible_gates, window_flows

LIVE_MINUTES = 60

_live: LiveState | None = None


def live_state() -> LiveState:
    global _live
    if _live is None:
        _live = LiveState(connect(), settings().redis_prefix)
    return _live


def population_by_grid(session: Session, viewer: Viewer) -> dict[int, int]:
    """Grid id → real-time population, for the viewer's grids only (filtered in SQL before summing)."""
    return {int(p.id): p.realtime for p in live_population(session, viewer.like_patterns, "grid")}


def flows_for(session: Session, hour: int | None, day: dt.date | None, gate_ids: list[int] | None = None) -> Flows:
    """Live flows of the last hour (hour None), or the rollups of one hour of a day (the slider's replay),
    of ``gate_ids`` (the viewer's gates) only when given."""
    if hour is None or day is None:
        return live_state().gate_flows(LIVE_MINUTES)
    start = dt.datetime.combine(day, dt.time(hour), local_tz())
    return window_flows(session, start, start + dt.timedelta(hours=1), gate_ids)


def replay_day(session: Session) -> dt.date | None:
    """The last whole local day the rollups hold (the slider replays it)."""
    latest = session.execute(text("SELECT max(minute) FROM gate_flow_minute")).scalar()
    if latest is None:
        return None
    local = latest.astimezone(local_tz())
    return local.date() if local.hour >= 23 else local.date() - dt.timedelta(days=1)


def flow_layers(session: Session, viewer: Viewer, hour: int | None = None, day: dt.date | None = None) -> dict[str, list[dict[str, Any]]]:
    gates = visible_gates(session, viewer)
    flows = flows_for(session, hour, day, [g["id"] for g in gates])
    return {"heatmap": heat_rows(gates, flows), "gates": gate_rows(gates, flows), "gate_arrows": arrow_rows(gates, flows)}


@dataclass(frozen=True)
class Kpis:
    population: int
    entries_hour: int
    exits_hour: int
    open_alerts: int
    overdue_orders: int


_COUNTS = text(
    """
    SELECT (SELECT count(*) FROM alert a JOIN grid g ON g.id = a.grid_id
            WHERE a.status IN ('open', 'dispatched') AND g.code LIKE ANY(:patterns)) AS alerts,
           (SELECT count(*) FROM work_order w JOIN grid g ON g.id = w.grid_id
            WHERE w.status IN ('assigned', 'in_progress') AND w.due_at < now() AND g.code LIKE ANY(:patterns)) AS overdue
    """
)


def kpis(session: Session, viewer: Viewer) -> Kpis:
    population = live_totals(session, viewer.like_patterns).realtime
    gate_ids = {g["id"] for g in visible_gates(session, viewer)}
    flows = live_state().gate_flows(LIVE_MINUTES)
    counts = session.execute(_COUNTS, {"patterns": viewer.like_patterns}).one()
    return Kpis(
        population=population,
        entries_hour=sum(f["in"] for g, f in flows.items() if g in gate_ids),
        exits_hour=sum(f["out"] for g, f in flows.items() if g in gate_ids),
        open_alerts=int(counts.alerts), overdue_orders=int(counts.overdue),
    )


def ticker(session: Session, viewer: Viewer, limit: int = 12) -> list[str]:
    """The newest alerts as one line each (rule, place, time): no names on a wall screen."""
    lines = []
    for row in alert_rows(session, viewer)[:limit]:
        grid_name = row["tip"].split("\n")[1].split(" · ")[-1]
        lines.append(f"【{Severity.label_of(row['severity'], '')}】{RuleName.label_of(row['rule'])} · {grid_name}")
    return lines
