"""What the analytics stage tells Prometheus: how long rule sweeps take and what they raise (counted by
the process that sweeps: `rules watch`'s incremental and full sweeps, the scheduler's full sweep), when
the last one succeeded, how many failed, how many subjects each rule looked at, and — read from PostGIS at scrape time, so every
app worker reports the same — open alerts and overdue work orders."""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram
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
# ``sweep``: full, incremental, or stats_refresh (the daily statistics `rules watch` keeps fresh).
SWEEP_LAST_SUCCESS = Gauge("gridpulse_rule_sweep_last_success_timestamp_seconds",
                           "Unix time the last sweep of this kind finished", ["sweep"], multiprocess_mode="max")
SWEEP_ERRORS = Counter("gridpulse_rule_sweep_errors_total", "Sweeps of this kind that failed", ["sweep"])
RULE_SUBJECTS = Gauge("gridpulse_rule_subjects", "Subjects the rule looked at in the last incremental sweep "
                      "(-1: that sweep was full for the rule)", ["rule"], multiprocess_mode="max")


def observe_sweep(report: Mapping[str, object], sweep: str) -> None:
    """Count a ``run_rules`` report (analytics/sweep.py): per rule its time and new alerts."""
    for rule, figures in dict(report.get("rules", {})).items():  # type: ignore[arg-type]
        RULE_SECONDS.labels(rule, sweep).observe(float(figures["seconds"]))
        if sweep == "incremental":
            subjects = figures.get("subjects")
            RULE_SUBJECTS.labels(rule).set(-1 if subjects is None else int(subjects))
        if figures["new_alerts"]:
            ALERTS_RAISED.labels(rule).inc(int(figures["new_alerts"]))
    SWEEP_SECONDS.labels(sweep).observe(float(report.get("seconds", 0.0)))  # type: ignore[arg-type]
    SWEEP_LAST_SUCCESS.labels(sweep).set(time.time())
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
