"""What the analytics stage tells Prometheus: how long rule sweeps take and what they raise (counted by
the process that sweeps: the scheduler's full sweep), and — read from PostGIS at scrape time, so every
app worker reports the same — open alerts and overdue work orders."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Histogram
from prometheus_client.core import Metric
from sqlalchemy import text

from blockdata.db import transaction
from core.metrics import ScrapeCollector, gauge

RULE_SECONDS = Histogram("gridpulse_rule_run_seconds", "Time one rule takes in a sweep", ["rule", "sweep"],
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
SWEEP_SECONDS = Histogram("gridpulse_rule_sweep_seconds", "Time a whole rule sweep takes", ["sweep"],
                          buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
ALERTS_RAISED = Counter("gridpulse_alerts_raised_total", "New alerts raised by rule", ["rule"])
ORDERS_ESCALATED = Counter("gridpulse_work_orders_escalated_total", "Overdue work orders escalated")


def observe_sweep(report: Mapping[str, object], sweep: str) -> None:
    """Count a ``run_rules`` report (analytics/sweep.py): per rule its time and new alerts."""
    for rule, figures in dict(report.get("rules", {})).items():  # type: ignore[arg-type]
        RULE_SECONDS.labels(rule, sweep).observe(float(figures["seconds"]))
        if figures["new_alerts"]:
            ALERTS_RAISED.labels(rule).inc(int(figures["new_alerts"]))
    SWEEP_SECONDS.labels(sweep).observe(float(report.get("seconds", 0.0)))  # type: ignore[arg-type]
    escalated = int(report.get("escalated", 0) or 0)  # type: ignore[arg-type]
    if escalated:
        ORDERS_ESCALATED.inc(escalated)


def _work() -> Iterable[Metric]:
    with transaction() as session:
        alerts = session.execute(text(
            "SELECT rule, severity::text, count(*) FROM alert WHERE status IN ('open', 'dispatched') GROUP BY 1, 2")).all()
        overdue = session.execute(text(
            "SELECT count(*) FILTER (WHERE due_at < now()), count(*) FROM work_order "
            "WHERE status IN ('assigned', 'in_progress')")).one()
    yield gauge("gridpulse_open_alerts", "Alerts not yet closed or dismissed, by rule and severity", ["rule", "severity"],
                [((rule, severity), n) for rule, severity, n in alerts])
    yield gauge("gridpulse_work_orders_overdue", "Open work orders past their due time", [], [((), overdue[0])])
    yield gauge("gridpulse_work_orders_open", "Work orders not yet done", [], [((), overdue[1])])


def work_collector() -> ScrapeCollector:
    return ScrapeCollector("work", _work)
