"""Rules evaluation: seed `street` (30 days), sweep every rule as of the end of the seeded period, and
score each against the seeder's injected ground truth (precision, recall); the full sweep time; and
co-presence for one person over 7 days.

Uses its own database (gridpulse_bench_rules). `--quick` uses `tiny`. Last line: one JSON object.
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
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_rules")

from sqlalchemy import text  # noqa: E402

from analytics import police  # noqa: E402
from analytics.params import params  # noqa: E402
from analytics.rules import RULES  # noqa: E402
from analytics.sweep import run_rules  # noqa: E402
from bench.common import fresh_database  # noqa: E402
from core.config import settings  # noqa: E402
from core.viewer import Role, Viewer  # noqa: E402
from blockdata.db import transaction  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402
from demo.synthetic.events import local_midnight_ms  # noqa: E402

ANCHOR = dt.date(2026, 11, 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="use the tiny street")
    args = parser.parse_args()
    preset = "tiny" if args.quick else "street"
    fresh_database(settings().database_url)
    seeded = run_seed(preset=preset, seed=20261122, anchor=ANCHOR, reset=True)
    as_of = dt.datetime.fromtimestamp(local_midnight_ms(ANCHOR) / 1000, tz=dt.timezone.utc)
    print(f"seeded {preset}: {seeded['counts']['person']:,} people, {seeded['counts']['access_event']:,} events")
    scores = {}
    with transaction() as s:
        truth = {tuple(r) for r in s.execute(text("SELECT kind, subject_kind, subject_id FROM truth.injected_anomaly"))}
        for rule, find in RULES.items():
            found = {(f.rule, f.subject_kind, f.subject_id) for f in find(s, as_of, params())}
            expected = {t for t in truth if t[0] == rule}
            tp = len(found & expected)
            precision = tp / len(found) if found else (1.0 if not expected else 0.0)
            recall = tp / len(expected) if expected else None
            scores[rule] = {"found": len(found), "injected": len(expected), "precision": round(precision, 3),
                            "recall": None if recall is None else round(recall, 3)}
            print(f"{rule:22} found {len(found):4}  injected {len(expected):4}  precision {precision:.3f}  "
                  f"recall {'n/a (nothing injected)' if recall is None else f'{recall:.3f}'}")
    with transaction() as s:
        started = time.perf_counter()
        report = run_rules(s, as_of)
        sweep_s = time.perf_counter() - started
    print(f"full sweep (all rules → alerts → work orders): {sweep_s:.2f} s")
    with transaction() as s:
        person_id, compound = s.execute(text(
            """SELECT person_id, compound_id FROM access_event WHERE person_id IS NOT NULL AND ts > :a
               GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1"""), {"a": as_of - dt.timedelta(days=7)}).one()
        officer = Viewer(None, Role.police, ("320106001000",), "bench-police")
        started = time.perf_counter()
        found = police.co_presence(s, officer, person_id, reason="基准测试", start=as_of - dt.timedelta(days=7), end=as_of)
        co_ms = (time.perf_counter() - started) * 1000
    print(f"co-presence, one person over 7 days: {co_ms:.0f} ms ({len(found)} people)")
    print(json.dumps({
        "benchmark": "rules", "preset": preset, "rules": scores, "sweep_seconds": round(sweep_s, 2),
        "new_alerts": sum(r["new_alerts"] for r in report["rules"].values()), "co_presence_ms": round(co_ms, 1),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
