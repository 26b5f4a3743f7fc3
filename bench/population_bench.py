"""实时人口 benchmark: the maintained real-time population read against its recomputation (issue #21).

Seeds its own database (gridpulse_bench_population, Redis prefix gpbench:) — `tiny` with ``--quick``, else
`street` (``--preset city`` for the city; ``--keep`` reuses what is there) — then times, each as the median
of several runs in the same process:

- the maintained read (analytics/population.py ``live_population``) per grid for the whole base and for
  one street's account (its jurisdiction applied in SQL first), and the KPI total of a street;
- the recomputation from the event table (``realtime_population``), the method as it was read before;
- the machine's floor: a ``SELECT 1`` round trip on the same connection;
- what keeping the numbers costs the ingest: one batch landed by the ingest writer with the presence
  trigger, and the same batch without it (the trigger disabled for that run), as a ratio;
- one reconciliation (recompute + compare), which must find no drift after the seed.

Prints lines, then one JSON object on the last line.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_population")
os.environ.setdefault("GRIDPULSE_REDIS_PREFIX", "gpbench:")
os.environ.setdefault("GRIDPULSE_KEY_FILE", str(ROOT / "var" / "bench-secrets.json"))

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402

from analytics.population import EVERYWHERE, live_population, live_totals, realtime_population  # noqa: E402
from analytics.population_reconcile import reconcile  # noqa: E402
from bench.common import fresh_database  # noqa: E402
from blockdata.db import transaction  # noqa: E402
from core.config import settings  # noqa: E402
from core.events import uuid7  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402
from ingest.writer import land  # noqa: E402


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def batch(conn: psycopg.Connection, n: int) -> list[dict[str, str]]:
    """n passages of residents at their own compound's gates over the last hour (as the ingest gets them)."""
    rows = conn.execute(
        "SELECT p.id, g.id, g.compound_id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id "
        "JOIN building b ON b.id = d.building_id JOIN gate g ON g.compound_id = b.compound_id "
        "ORDER BY hashint4(p.id::int) LIMIT %s", (n,)).fetchall()
    now = time.time()
    events = []
    for i, (person, gate, compound) in enumerate(rows):
        ts = dt.datetime.fromtimestamp(now - 3600 + i * 3600 / max(len(rows), 1), dt.timezone.utc)
        events.append({"event_id": str(uuid7(int(ts.timestamp() * 1000))), "ts": ts.isoformat(), "gate_id": str(gate),
                       "compound_id": str(compound), "direction": "out" if i % 2 else "in", "method": "face",
                       "result": "open", "person_id": str(person)})
    return events


def ingest_cost(dsn: str, n: int) -> tuple[float, float, int]:
    """Seconds to land one batch with the presence trigger and a like batch without it, and the batch size."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        with_trigger = batch(conn, n)
        # A worker's connection has planned the trigger's statements already: warm this one up with a few
        # older passages of the same people (they do not change what the measured batch has to do).
        land(conn, [dict(e, event_id=str(uuid.UUID(int=uuid.UUID(e["event_id"]).int ^ 2)),
                         ts=(dt.datetime.fromisoformat(e["ts"]) - dt.timedelta(hours=2)).isoformat())
                    for e in with_trigger[:50]])
        start = time.perf_counter()
        land(conn, with_trigger)
        on_s = time.perf_counter() - start
        # The same people a second later, the other way: without the trigger their state goes stale (drift).
        without = [dict(e, event_id=str(uuid.UUID(int=uuid.UUID(e["event_id"]).int ^ 1)),
                        ts=(dt.datetime.fromisoformat(e["ts"]) + dt.timedelta(seconds=1)).isoformat(),
                        direction="in" if e["direction"] == "out" else "out") for e in with_trigger]
        conn.execute("ALTER TABLE access_event DISABLE TRIGGER presence_events")
        try:
            start = time.perf_counter()
            land(conn, without)
            off_s = time.perf_counter() - start
        finally:
            conn.execute("ALTER TABLE access_event ENABLE TRIGGER presence_events")
    return on_s, off_s, len(with_trigger)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seed tiny (seconds) instead of street")
    parser.add_argument("--preset", choices=["street", "city"], default="street", help="the seeded place without --quick")
    parser.add_argument("--keep", action="store_true", help="reuse the bench database as it is")
    parser.add_argument("--runs", type=int, default=None, help="runs of each read measured")
    args = parser.parse_args()
    preset = "tiny" if args.quick else args.preset
    runs = args.runs or (5 if args.quick else 9)
    cfg = settings()
    dsn = cfg.database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    t0 = time.perf_counter()
    if not args.keep:
        fresh_database(cfg.database_url)
        run_seed(preset=preset, seed=7, days=3, reset=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")  # as autovacuum would have by now on a running base: plans from real statistics
    with transaction() as s:
        counts = s.execute(text("SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM access_event), "
                                "(SELECT count(*) FROM building), (SELECT count(*) FROM grid), "
                                "(SELECT count(*) FROM presence_person WHERE is_out)")).one()
        street = s.execute(text("SELECT code FROM region WHERE level = 'street' ORDER BY code LIMIT 1")).scalar_one()
    print(f"{preset}: {counts[0]:,} people, {counts[1]:,} events, {counts[2]:,} buildings, {counts[3]} grids, "
          f"{counts[4]:,} away now; set-up {time.perf_counter() - t0:.1f} s")
    street_patterns = [street[:9] + "%"]

    with transaction() as s:
        t = time.perf_counter()
        first = reconcile(s, repair=False)
        reconcile_s = time.perf_counter() - t
    print(f"reconcile (recompute + compare): {reconcile_s:.2f} s, {len(first.drift)} buildings drifted")

    with transaction() as s:
        floor_ms = median_ms(lambda: s.execute(text("SELECT 1")).scalar_one(), runs)
        live_city_ms = median_ms(lambda: live_population(s, EVERYWHERE, "grid"), runs)
        live_street_ms = median_ms(lambda: live_population(s, street_patterns, "grid"), runs)
        kpi_street_ms = median_ms(lambda: live_totals(s, street_patterns), runs)
        recompute_ms = median_ms(lambda: realtime_population(s, "grid"), max(3, runs // 3))
        live = {p.id: p.realtime for p in live_population(s, EVERYWHERE, "grid")}
    print(f"maintained read per grid: whole base {live_city_ms} ms, one street {live_street_ms} ms, "
          f"a street's KPI {kpi_street_ms} ms; recomputation {recompute_ms} ms; SELECT 1 {floor_ms} ms")

    n = {"tiny": 500, "street": 5000, "city": 10000}[preset]
    on_s, off_s, landed = ingest_cost(dsn, n)
    print(f"ingest of {landed} events: {on_s * 1000:.0f} ms with the presence trigger, {off_s * 1000:.0f} ms without")
    with transaction() as s:
        after = reconcile(s, repair=True)  # the batch landed without the trigger is drift, found and repaired
    result = {
        "bench": "population", "preset": preset, "people": counts[0], "events": counts[1], "buildings": counts[2],
        "grids": counts[3], "runs": runs, "grids_with_population": len(live),
        "maintained_read_city_ms": live_city_ms, "maintained_read_street_ms": live_street_ms,
        "kpi_street_ms": kpi_street_ms, "recompute_ms": recompute_ms, "select_1_ms": floor_ms,
        "ratio_recompute_to_maintained": round(recompute_ms / max(live_city_ms, 0.01), 1),
        "ratio_maintained_to_select_1": round(live_city_ms / max(floor_ms, 0.01), 1),
        "reconcile_s": round(reconcile_s, 2), "drift_after_seed": len(first.drift),
        "ingest_batch": landed, "ingest_with_trigger_ms": round(on_s * 1000, 1), "ingest_without_trigger_ms": round(off_s * 1000, 1),
        "ratio_ingest_with_to_without": round(on_s / max(off_s, 1e-6), 2),
        "untriggered_batch_found_as_drift": len(after.drift) > 0 and after.repaired,
    }
    print(f"recomputation / maintained read: {result['ratio_recompute_to_maintained']}×; maintained read / SELECT 1: "
          f"{result['ratio_maintained_to_select_1']}×; ingest with / without the trigger: {result['ratio_ingest_with_to_without']}×")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
