"""All scenario cases, and one run of the library: seed a tiny street, land every case, sweep each rule
as of each case's time, and read every case's verdict."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from analytics.params import RuleParams, params
from analytics.rules import RULES
from blockdata.db import transaction
from tests.scenarios import (
    cases_arrival_registration, cases_correction_movement, cases_departure, cases_elderly_inactive,
    cases_group_rental, cases_key_control_movement, cases_keysite_surge, cases_utility_anomaly, cases_visitor_overstay,
)
from tests.scenarios.dsl import Case, ingest, land_all, verdicts

ANCHOR = dt.date(2026, 11, 20)
CASES: list[Case] = [
    *cases_elderly_inactive.CASES, *cases_correction_movement.CASES, *cases_group_rental.CASES,
    *cases_arrival_registration.CASES, *cases_departure.CASES, *cases_utility_anomaly.CASES,
    *cases_keysite_surge.CASES, *cases_visitor_overstay.CASES, *cases_key_control_movement.CASES,
]


def run(cases: Iterable[Case] = CASES, rule_params: RuleParams | None = None, *, seed_street: bool = True) -> dict[str, bool]:
    """Land the cases (on a freshly seeded tiny street) and return case key → did the rule fire for its subject."""
    from demo.synthetic import run_seed

    cases = list(cases)
    if seed_street:
        run_seed(preset="tiny", seed=15, anchor=ANCHOR, reset=True)
    with transaction() as s:
        landed, events = land_all(s, cases)
    ingest(events)
    p = rule_params or params()
    findings: dict[dt.datetime, dict[str, list]] = {}
    with transaction() as s:
        for as_of in sorted({c.as_of for c in cases}):
            rules = sorted({c.rule for c in cases if c.as_of == as_of})
            findings[as_of] = {r: RULES[r](s, as_of, dataclasses.replace(p)) for r in rules}
    return verdicts(findings, cases, landed)


def score(cases: list[Case], verdict: dict[str, bool]) -> dict[str, dict[str, object]]:
    """Precision and recall per rule; the cases it got wrong by name."""
    out = {}
    for rule in sorted({c.rule for c in cases}):
        mine = [c for c in cases if c.rule == rule]
        tp = sum(1 for c in mine if c.fires and verdict[c.key])
        fp = [c.name for c in mine if not c.fires and verdict[c.key]]
        fn = [c.name for c in mine if c.fires and not verdict[c.key]]
        fired = tp + len(fp)
        out[rule] = {"positives": sum(c.fires for c in mine), "negatives": sum(not c.fires for c in mine),
                     "precision": round(tp / fired, 3) if fired else 1.0,
                     "recall": round(tp / (tp + len(fn)), 3) if tp + len(fn) else 1.0,
                     "false_fires": fp, "misses": fn}
    return out
