"""Every rule against the seeded tiny street's ground truth: all injected cases found, nothing else."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from analytics.params import params
from analytics.rules import RULES
from analytics.sweep import run_rules
from blockdata.db import transaction
from demo.synthetic import run_seed
from demo.synthetic.events import local_midnight_ms

ANCHOR = dt.date(2026, 11, 20)
AS_OF = dt.datetime.fromtimestamp(local_midnight_ms(ANCHOR) / 1000, tz=dt.timezone.utc)


@pytest.fixture(scope="module")
def street(database_url: str) -> set[tuple[str, str, int]]:
    run_seed(preset="tiny", seed=11, anchor=ANCHOR, reset=True)
    with transaction() as s:
        return {tuple(r) for r in s.execute(text("SELECT kind, subject_kind, subject_id FROM truth.injected_anomaly"))}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_matches_the_ground_truth(street: set, rule: str) -> None:
    with transaction() as s:
        found = {(f.rule, f.subject_kind, f.subject_id) for f in RULES[rule](s, AS_OF, params())}
    expected = {t for t in street if t[0] == rule}
    assert expected, f"the seeded street injects no {rule} case: this test would prove nothing"
    assert found == expected


def test_the_sweep_turns_the_findings_into_work_orders_for_grid_workers(street: set) -> None:
    with transaction() as s:
        report = run_rules(s, AS_OF)
        orders = s.execute(text("SELECT count(*), count(assignee_account_id) FROM work_order")).one()
    assert sum(r["new_alerts"] for r in report["rules"].values()) == len(street)
    assert orders == (len(street), len(street))
