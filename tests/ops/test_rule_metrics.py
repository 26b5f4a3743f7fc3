"""A full sweep's figures reach Prometheus: each rule's run time and the alerts it raised, as the
scheduler's `rules` job records them (analytics/metrics.py), from a real sweep of the seeded street."""
from __future__ import annotations

import datetime as dt

import sqlalchemy
from prometheus_client import REGISTRY

from analytics.metrics import observe_sweep, work_collector
from analytics.sweep import run_rules
from blockdata.db import transaction
from demo.synthetic import run_seed
from demo.synthetic.events import local_midnight_ms
from tests.seeded import ANCHOR


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_sweep_is_counted_by_rule(database_url: str) -> None:
    run_seed(preset="tiny", seed=11, anchor=ANCHOR, reset=True)  # not yet swept: the sweep raises its alerts
    as_of = dt.datetime.fromtimestamp(local_midnight_ms(ANCHOR) / 1000, tz=dt.timezone.utc)
    with transaction() as s:
        report = run_rules(s, as_of)
    before = {rule: _value("gridpulse_alerts_raised_total", rule=rule) for rule in report["rules"]}
    counts = {rule: _value("gridpulse_rule_run_seconds_count", rule=rule, sweep="full") for rule in report["rules"]}
    observe_sweep(report, "full")
    for rule, figures in report["rules"].items():
        assert _value("gridpulse_rule_run_seconds_count", rule=rule, sweep="full") == counts[rule] + 1
        assert _value("gridpulse_alerts_raised_total", rule=rule) - before[rule] == figures["new_alerts"]
    assert any(f["new_alerts"] for f in report["rules"].values()), "the sweep raised nothing: the test proved little"


def test_open_alerts_and_overdue_orders_are_read_from_the_base(database_url: str) -> None:
    families = {f.name: f for f in work_collector().collect()}
    with transaction() as s:
        open_alerts = s.execute(sqlalchemy.text(
            "SELECT count(*) FROM alert WHERE status IN ('open', 'dispatched')")).scalar_one()
    assert sum(sample.value for sample in families["gridpulse_open_alerts"].samples) == open_alerts
    assert families["gridpulse_scrape_error"].samples[0].value == 0
