"""水电气's figures kept as readings land (migration 0015) mean what the rule's own reading of the month means.

Each meter series' row in ``utility_baseline`` must hold, for the series' latest day, the figures the rule
defines (docs/ANALYTICS.md, 水电气): the last 3 days, the typical day of the 28 before (the upper quartile,
as Python's ``statistics.quantiles`` computes it), the days lived in (at least a fifth of the typical day)
and their mean and deviation — after an import, a late reading, a correction, a deletion, and not after a
rolled-back import. The sweep finds from them what it found from the readings: as of today, as of an
earlier day (figures for a later day), and with a window other than the maintained one.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.params import params
from analytics.rules import utility_anomaly
from blockdata.db import transaction
from tests import places as P

T = dt.date(2026, 11, 30)  # the last day read
CST = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def home(database_url: str) -> Iterator[int]:
    with transaction() as s:
        dwelling = P.build(s).dwelling_a1
    yield dwelling


def put(s: Session, dwelling: int, kind: str, first: dt.date, values: list[float]) -> None:
    """One statement, as a department's file lands: ``values`` day by day from ``first``."""
    s.execute(text("INSERT INTO utility_reading (dwelling_id, kind, day, value) "
                   "SELECT :d, CAST(:k AS utility_kind), CAST(:first AS date) + CAST(i AS integer) - 1, v "
                   "FROM unnest(CAST(:vals AS real[])) WITH ORDINALITY AS x(v, i)"),
              {"d": dwelling, "k": kind, "first": first, "vals": values})


def kept(dwelling: int, kind: str = "electricity") -> dict | None:
    with transaction() as s:
        row = s.execute(text("SELECT * FROM utility_baseline WHERE dwelling_id = :d AND kind = CAST(:k AS utility_kind)"),
                        {"d": dwelling, "k": kind}).mappings().first()
    return dict(row) if row is not None else None


def recomputed(dwelling: int, day: dt.date, kind: str = "electricity") -> dict:
    with transaction() as s:
        return dict(s.execute(text("SELECT * FROM gp_utility_figures(ARRAY[:d], ARRAY[CAST(:k AS utility_kind)], "
                                   "ARRAY[CAST(:day AS date)])"), {"d": dwelling, "k": kind, "day": day}).mappings().one())


def as_stored(values: list[float]) -> list[float]:
    """The readings as the REAL column holds them (single precision), as Python reads them back."""
    return [float(np.float32(v)) for v in values]


def month(last: dt.date = T) -> dt.date:
    return last - dt.timedelta(days=30)


# A month with a holiday (three days at a fridge's use) and ordinary variation, then three recent days.
BASELINE = [9.8, 10.4, 11.1, 9.2, 10.0, 12.5, 13.0, 0.4, 0.3, 0.5, 9.9, 10.2, 10.8, 9.5,
            10.1, 11.9, 12.2, 9.7, 10.3, 10.6, 9.4, 10.0, 11.4, 12.8, 9.6, 10.5, 10.9, 9.9]
RECENT = [10.7, 9.1, 11.3]


def test_the_figures_are_the_rules_own(home: int) -> None:
    """Typical day = statistics.quantiles(n=4)[2] exactly; the holiday days are not lived in; mean and
    deviation of the lived days as Python computes them."""
    with transaction() as s:
        put(s, home, "electricity", month(), BASELINE + RECENT)
    row = kept(home)
    base, recent = as_stored(BASELINE), as_stored(RECENT)
    typical = statistics.quantiles(base, n=4)[2]
    lived = [v for v in base if v >= 0.2 * typical]
    assert row is not None and row["day"] == T
    assert (row["n_recent"], row["n_base"], row["n_lived"]) == (3, 28, 25)
    assert row["typical"] == typical
    assert row["max_recent"] == max(recent)
    assert row["mean_recent"] == pytest.approx(statistics.fmean(recent), rel=1e-12)
    assert row["base"] == pytest.approx(statistics.fmean(lived), rel=1e-12)
    assert row["sd"] == pytest.approx(statistics.stdev(lived), rel=1e-12)


def test_kept_through_a_new_day_a_late_reading_a_correction_and_a_deletion(home: int) -> None:
    with transaction() as s:
        put(s, home, "electricity", month(), BASELINE + RECENT[:2])  # the last day not read yet
    assert kept(home)["day"] == T - dt.timedelta(days=1)
    assert kept(home) == recomputed(home, T - dt.timedelta(days=1))
    with transaction() as s:  # the next day's file
        put(s, home, "electricity", T, [RECENT[2]])
    assert kept(home)["day"] == T
    assert kept(home) == recomputed(home, T)
    with transaction() as s:  # a department corrects a baseline day: the holiday was a misread 0.3
        s.execute(text("UPDATE utility_reading SET value = 30 WHERE dwelling_id = :d AND day = :day"),
                  {"d": home, "day": month() + dt.timedelta(days=8)})
    assert kept(home) == recomputed(home, T)
    assert kept(home)["n_lived"] == 26
    with transaction() as s:  # a reading for another dwelling leaves this series' row alone
        other = s.execute(text("SELECT id FROM dwelling WHERE id <> :d ORDER BY id LIMIT 1"), {"d": home}).scalar_one()
        put(s, other, "water", T, [0.4])
    assert kept(home) == recomputed(home, T)
    assert kept(other, "water")["n_recent"] == 1
    with transaction() as s:
        s.execute(text("DELETE FROM utility_reading WHERE dwelling_id = :d"), {"d": home})
    assert kept(home) is None


def test_a_rolled_back_import_changes_nothing(home: int) -> None:
    with transaction() as s:
        put(s, home, "electricity", month(), BASELINE + RECENT)
    before = kept(home)
    with pytest.raises(RuntimeError, match="the file was refused"), transaction() as s:
        put(s, home, "electricity", T + dt.timedelta(days=1), [99.0])
        raise RuntimeError("the file was refused")
    assert kept(home) == before


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10), tzinfo=CST)


def findings(day: dt.date, **overrides: object) -> list[tuple[str, str]]:
    p = replace(params(), **overrides)
    with transaction() as s:
        return [(f.evidence["anomaly"], f.evidence["utility"]) for f in utility_anomaly.find(s, at(day), p)]


def test_a_spike_found_today_and_as_of_an_earlier_day(home: int) -> None:
    """40 a day for three days against a usual 10, then three ordinary days: the spike is the rule's finding
    as of its last day (figures kept for three days later), and nothing is found today."""
    spike_day = T - dt.timedelta(days=3)
    with transaction() as s:
        put(s, home, "electricity", month(spike_day), BASELINE + [40.0, 42.0, 45.0] + RECENT)
    assert kept(home)["day"] == T
    assert findings(T) == []
    assert findings(spike_day) == [("spike", "electricity")]
    assert findings(spike_day - dt.timedelta(days=2)) == []  # one day of it: 20.3 a day against 10.6


def test_another_window_is_computed_from_the_readings(home: int) -> None:
    """Two high days after an ordinary one: not a spike over the maintained three days (21.7 against 10.6 ×
    2.5), a spike over two (30 a day)."""
    with transaction() as s:
        put(s, home, "electricity", month(), BASELINE + [5.0, 30.0, 30.0])
    assert findings(T) == []
    assert findings(T, utility_recent_days=2) == [("spike", "electricity")]


def test_a_dwelling_never_read_on_the_day_is_not_found(home: int) -> None:
    """Missing is not zero: the last reading was two days ago (its figures are for that day)."""
    with transaction() as s:
        put(s, home, "electricity", month(T - dt.timedelta(days=2)), BASELINE + [0.0, 0.0, 0.0])
    assert kept(home)["day"] == T - dt.timedelta(days=2)
    assert findings(T) == []
