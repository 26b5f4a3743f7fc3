"""The scenario library in `make test`: every case's verdict, and the library's own shape.

A rule change that breaks a case fails here, naming the case and why it expects what it expects.
"""
from __future__ import annotations

from collections import Counter

import pytest

from tests.scenarios.library import CASES, run


@pytest.fixture(scope="module")
def verdicts(database_url: str) -> dict[str, bool]:
    return run(CASES)


def test_every_rule_has_ten_positive_and_ten_hard_negative_cases() -> None:
    per_rule = Counter((c.rule, c.fires) for c in CASES)
    from analytics.rules import RULES

    for rule in RULES:
        assert per_rule[(rule, True)] >= 10, f"{rule}: {per_rule[(rule, True)]} positive cases"
        assert per_rule[(rule, False)] >= 10, f"{rule}: {per_rule[(rule, False)]} negative cases"


def test_every_case_says_why_and_has_a_unique_name() -> None:
    assert all(c.why.strip() and "\n" not in c.why for c in CASES)
    assert len({c.key for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_case(verdicts: dict[str, bool], case) -> None:  # noqa: ANN001
    assert verdicts[case.key] == case.fires, f"{'missed' if case.fires else 'fired on'}: {case.why}"
