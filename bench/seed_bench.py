"""Seeding benchmark: `gridpulse seed --preset street` with 30 days of events, the event rows/s of the
seeder's COPY beside the machine's ceiling for the same table (INSERT … SELECT generate_series,
same run, same partitioned access_event), as a ratio.

Uses its own database (gridpulse_bench_seed). `--quick` seeds `tiny`. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_seed")

import psycopg  # noqa: E402

from bench.common import fresh_database, insert_ceiling_rows_per_s  # noqa: E402
from core.config import settings  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="seed tiny (a few seconds) instead of street")
    parser.add_argument("--preset", choices=("tiny", "street", "city"), default=None)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--ceiling-runs", type=int, default=1,
                        help="measure the ceiling this many times and keep the best (the machine is shared and noisy)")
    args = parser.parse_args()
    preset = args.preset or ("tiny" if args.quick else "street")
    cfg = settings()
    fresh_database(cfg.database_url)
    report = run_seed(preset=preset, seed=20261122, days=args.days, anchor=dt.date(2026, 11, 20), reset=True)
    rows = report["counts"]["access_event"]
    rate = report["event_rows_per_s"]
    # The ceiling's rows are stamped now(): give today its day partition too, so that they land in day
    # partitions like the seeded events (never in access_event_default), whatever the fixed anchor is.
    with psycopg.connect(cfg.psycopg_dsn, autocommit=True) as conn:
        conn.execute("SELECT gp_ensure_event_partitions(current_date - 1, current_date + 1)")
    ceilings = [insert_ceiling_rows_per_s(cfg.psycopg_dsn, rows, 1, 1) for _ in range(args.ceiling_runs)]
    ceiling = max(ceilings)
    with psycopg.connect(cfg.psycopg_dsn) as conn:
        in_default = conn.execute("SELECT count(*) FROM access_event_default").fetchone()[0]
    people = report["counts"]["person"]
    print(f"seeded {preset} ({report['days']} days): {people:,} people, {rows:,} events in {report['seconds_total']:.1f} s")
    print(f"events COPY: {rate:,} rows/s; ceiling INSERT … SELECT generate_series: {ceiling:,.0f} rows/s; ratio {rate / ceiling:.2f}")
    if len(ceilings) > 1:
        print("ceiling runs (rows/s):", ", ".join(f"{c:,.0f}" for c in ceilings))
    print("phases (s):", ", ".join(f"{k} {v}" for k, v in report["timings"].items()))
    goal_seconds = 300 if preset == "street" else None
    ratio = rate / ceiling
    if goal_seconds is not None:
        print(f"goals: street under {goal_seconds} s — {'met' if report['seconds_total'] < goal_seconds else 'MISSED'}; "
              f"ratio ≥ 0.7 — {'met' if ratio >= 0.7 else 'MISSED'}")
    if in_default:
        print(f"warning: {in_default:,} rows in access_event_default (should be 0)")
    print(json.dumps({
        "benchmark": "seed", "preset": preset, "days": report["days"], "seconds_total": report["seconds_total"],
        "people": people, "dwellings": report["counts"]["dwelling"], "event_rows": rows, "event_rows_per_s": rate,
        "ceiling_rows_per_s": round(ceiling), "ratio": round(ratio, 3), "rows_in_default_partition": in_default,
        "timings": report["timings"], "digest": report["digest"],
    }))


if __name__ == "__main__":
    main()
