"""The seeded `tiny` street with its rules swept, as the dashboard and layer tests start from it."""
from __future__ import annotations

import datetime as dt

from analytics.sweep import run_rules
from blockdata.db import transaction
from demo.synthetic import run_seed
from demo.synthetic.events import local_midnight_ms

ANCHOR = dt.date(2026, 11, 20)


def seed_tiny_swept(anchor: dt.date = ANCHOR, seed: int = 11) -> dt.datetime:
    """Seed (reset) and sweep every rule as of the anchor's local midnight; returns that moment."""
    run_seed(preset="tiny", seed=seed, anchor=anchor, reset=True)
    as_of = dt.datetime.fromtimestamp(local_midnight_ms(anchor) / 1000, tz=dt.timezone.utc)
    with transaction() as s:
        run_rules(s, as_of)
    return as_of
