"""Rules evaluation on two sets: the seeder's injected ground truth, and the scenario library
(tests/scenarios, cases written from the rules' meaning). Precision and recall per rule on each
(goal ≥ 0.95 both), the full sweep's time on `street` (goal ≤ 60 s) against a floor measured in the
same run (one read of every stored passage), and co-presence for one person over 7 days.

Uses its own database (gridpulse_bench_rules). `--quick` uses `tiny` for the seeded set. Last line: one JSON object.
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
from analytics.rules import RULES, VERSIONS  # noqa: E402
from analytics.sweep import run_rules  # noqa: E402
from bench.common import fresh_database  # noqa: E402
from blockdata.db import transaction  # noqa: E402
from core.config import settings  # noqa: E402
from core.viewer import Role, Viewer  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402
from demo.synthetic.events import local_midnight_ms  # noqa: E402

ANCHOR = dt.date(2026, 11, 20)
GOAL = 0.95


def seeded_truth(preset: str) -> tuple[dict, float, float, float, int]:
    """Per-rule scores on the seeder's injected anomalies; the sweep's and the floor's seconds; co-presence ms."""
    fresh_database(settings().database_url)
    seeded = run_seed(preset=preset, seed=20261122, anchor=ANCHOR, reset=True)
    as_of = dt.datetime.fromtimestamp(local_midnight_ms(ANCHOR) / 1000, tz=dt.timezone.utc)
    events = seeded["counts"]["access_event"]
    print(f"seeded {preset}: {seeded['counts']['person']:,} people, {events:,} events")
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
            print(f"  {rule:22} found {len(found):4}  injected {len(expected):4}  precision {precision:.3f}  "
                  f"recall {'n/a (nothing injected)' if recall is None else f'{recall:.3f}'}")
    with transaction() as s:
        started = time.perf_counter()
        s.execute(text("SELECT count(*), max(ts) FROM access_event")).one()
        floor_s = time.perf_counter() - started
    with transaction() as s:
        started = time.perf_counter()
        report = run_rules(s, as_of)
        sweep_s = time.perf_counter() - started
    print("  seconds per rule: " + ", ".join(f"{r} {v['seconds']:.1f}" for r, v in report["rules"].items()))
    print(f"full sweep (all rules → alerts → work orders): {sweep_s:.2f} s; floor (one read of every passage): "
          f"{floor_s:.2f} s; ratio {sweep_s / max(floor_s, 1e-6):.1f}×")
    with transaction() as s:
        person_id, _ = s.execute(text(
            """SELECT person_id, compound_id FROM access_event WHERE person_id IS NOT NULL AND ts > :a
               GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1"""), {"a": as_of - dt.timedelta(days=7)}).one()
        officer = Viewer(None, Role.police, ("320106001000",), "bench-police")
        started = time.perf_counter()
        police.co_presence(s, officer, person_id, reason="基准测试", start=as_of - dt.timedelta(days=7), end=as_of)
        co_ms = (time.perf_counter() - started) * 1000
    print(f"co-presence, one person over 7 days: {co_ms:.0f} ms")
    return scores, sweep_s, floor_s, co_ms, events


def scenario_library() -> dict:
    """Per-rule scores on the scenario library (landed on a fresh tiny street)."""
    from tests.scenarios.library import CASES, run, score

    fresh_database(settings().database_url)
    verdicts = run(CASES)
    scores = score(CASES, verdicts)
    print(f"scenario library: {len(CASES)} cases")
    for rule, s in scores.items():
        print(f"  {rule:22} {s['positives']:3} positive {s['negatives']:3} negative  precision {s['precision']:.3f}  "
              f"recall {s['recall']:.3f}" + (f"  false fires: {', '.join(s['false_fires'])}" if s["false_fires"] else "")
              + (f"  misses: {', '.join(s['misses'])}" if s["misses"] else ""))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="use the tiny street for the seeded set")
    args = parser.parse_args()
    preset = "tiny" if args.quick else "street"
    seeded, sweep_s, floor_s, co_ms, events = seeded_truth(preset)
    library = scenario_library()

    def met(scores: dict) -> bool:
        return all(s["precision"] >= GOAL and (s["recall"] is None or s["recall"] >= GOAL) for s in scores.values())

    goals = {"seeded": met(seeded), "scenarios": met(library), "sweep_le_60s": sweep_s <= 60}
    print("goals: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in goals.items()))
    print(json.dumps({
        "benchmark": "rules_eval", "preset": preset, "versions": VERSIONS, "events": events,
        "seeded": seeded, "scenarios": {r: {k: v for k, v in s.items()} for r, s in library.items()},
        "sweep_seconds": round(sweep_s, 2), "floor_seconds": round(floor_s, 3),
        "sweep_over_floor": round(sweep_s / max(floor_s, 1e-6), 1), "co_presence_ms": round(co_ms, 1), "goals": goals,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
