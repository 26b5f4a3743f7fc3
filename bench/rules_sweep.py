"""Rules sweep, full against incremental after a simulated hour (issue 21, item 2).

Seeds `street` (30 days) into its own database (gridpulse_bench_sweep; `--keep` reuses it), sweeps every
rule fully as of 08:00 local on the last seeded day (``--hour 9``, the morning rush; which leaves each
rule's watermark), then incrementally as of 09:00 — the hour's passages are the new evidence, and every
time boundary the hour crossed — and then fully again as of 09:00: that last sweep must raise no new alert (the incremental one
raised them all). Prints each rule's seconds and subjects, the ratio full / incremental, and the floor
measured in the same run: one read of the hour's passages, which any incremental sweep must at least
make. Goals at 1 M people: incremental ≤ 5 s, full ≤ 60 s (measured here on `street`; `--quick`: tiny).
Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_sweep")

from sqlalchemy import text  # noqa: E402

from analytics.params import params  # noqa: E402
from analytics.sweep import run_rules  # noqa: E402
from bench.common import fresh_database  # noqa: E402
from blockdata.db import transaction  # noqa: E402
from core.config import local_tz, settings  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402

ANCHOR = dt.date(2026, 11, 20)


def _sweep(as_of: dt.datetime, incremental: bool) -> tuple[float, dict]:
    with transaction() as s:
        started = time.perf_counter()
        report = run_rules(s, as_of, rule_params=params(), incremental=incremental)
        return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seed tiny (seconds) instead of street")
    parser.add_argument("--keep", action="store_true", help="reuse the bench database if it holds the seeded street")
    parser.add_argument("--hour", type=int, default=9, choices=range(5, 24), metavar="H",
                        help="the simulated hour ends at H:00 local (5–23; default 9: the morning rush)")
    args = parser.parse_args()
    preset = "tiny" if args.quick else "street"
    url = settings().database_url
    if not args.keep:
        fresh_database(url)
        run_seed(preset=preset, seed=20261122, days=30 if preset == "street" else 14, anchor=ANCHOR, reset=True)
    last_day = ANCHOR - dt.timedelta(days=1)
    t1 = dt.datetime.combine(last_day, dt.time(args.hour, 0), tzinfo=local_tz()).astimezone(dt.timezone.utc)
    t0 = t1 - dt.timedelta(hours=1)
    with transaction() as s:
        s.execute(text("DELETE FROM work_order"))
        s.execute(text("DELETE FROM alert"))
        s.execute(text("DELETE FROM rule_watermark"))
        s.execute(text("DELETE FROM rule_change"))
        people, events = s.execute(text("SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM access_event)")).one()
    print(f"{preset}: {people:,} people, {events:,} passages; the hour: {t0.isoformat()} → {t1.isoformat()}")

    full_s, full = _sweep(t0, incremental=False)
    with transaction() as s:
        started = time.perf_counter()
        hour_events = s.execute(text("SELECT count(*), count(DISTINCT person_id) FROM access_event "
                                     "WHERE ts > :a AND ts <= :b"), {"a": t0, "b": t1}).one()
        floor_s = time.perf_counter() - started
    inc_s, inc = _sweep(t1, incremental=True)
    check_s, check = _sweep(t1, incremental=False)
    missed = sum(int(v["new_alerts"]) for v in check["rules"].values())  # type: ignore[union-attr]

    print(f"{'rule':22} {'full s':>8} {'incr. s':>8} {'subjects':>9}  mode")
    per_rule = {}
    for rule, f in full["rules"].items():  # type: ignore[union-attr]
        i = inc["rules"][rule]  # type: ignore[index]
        per_rule[rule] = {"full_s": f["seconds"], "incremental_s": i["seconds"], "subjects": i["subjects"], "mode": i["mode"]}
        print(f"{rule:22} {f['seconds']:8.2f} {i['seconds']:8.2f} {str(i['subjects']):>9}  {i['mode']}")
    ratio = full_s / max(inc_s, 1e-6)
    print(f"the hour: {hour_events[0]:,} passages of {hour_events[1]:,} people")
    print(f"full sweep {full_s:.2f} s; incremental after the hour {inc_s:.2f} s; full / incremental {ratio:.1f}×; "
          f"floor (one read of the hour's passages) {floor_s * 1000:.0f} ms, incremental / floor "
          f"{inc_s / max(floor_s, 1e-6):.0f}×")
    print(f"full sweep at the same time after it: {check_s:.2f} s, new alerts {missed} (0: the incremental sweep raised them all)")
    print(json.dumps({
        "bench": "rules_sweep", "preset": preset, "people": people, "passages": events,
        "hour_passages": hour_events[0], "full_s": round(full_s, 2), "incremental_s": round(inc_s, 2),
        "full_over_incremental": round(ratio, 1), "floor_s": round(floor_s, 4),
        "incremental_over_floor": round(inc_s / max(floor_s, 1e-6), 1), "full_again_s": round(check_s, 2),
        "new_alerts_in_full_after_incremental": missed, "per_rule": per_rule,
        "goals_at_1m": {"incremental_s": 5, "full_s": 60},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
