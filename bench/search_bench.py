"""一搜 benchmark: milliseconds per query of intake.search on the `street` preset (goal ≤ 150 ms; `city` ≤ 400 ms),
beside the floor measured in the same run: one indexed look-up (a dwelling by id) through the same
session and transaction, as a ratio.

The queries are what people type: each sampled dwelling's address in three messy forms (compound +
3-2-501, 栋 for 幢 without 室 and the city, the full standard text), a resident's full name, a
compound's name; run as the street's command centre (the whole street) and as a grid worker.

Uses its own database (gridpulse_bench_search), seeded once per preset (reused while it holds that
preset). `--quick`: the `tiny` preset and fewer queries. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_search")

from sqlalchemy import text  # noqa: E402

from bench.common import fresh_database  # noqa: E402
from core.config import settings  # noqa: E402
from core.viewer import Role, Viewer  # noqa: E402
from blockdata.db import transaction  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402
from intake.search import search  # noqa: E402

GOALS_MS = {"tiny": 150.0, "street": 150.0, "city": 400.0}


def _seeded_preset() -> str | None:
    try:
        with transaction() as s:
            return s.execute(text("SELECT preset FROM seed_info ORDER BY id DESC LIMIT 1")).scalar()
    except Exception:  # noqa: BLE001 - no database or no schema yet: seed afresh
        return None


def _queries(n: int, rng: random.Random) -> list[tuple[str, str]]:
    with transaction() as s:
        rows = s.execute(text(
            """SELECT a.full_text, a.road, a.number, a.compound, a.building, a.unit, a.room FROM dwelling d
               JOIN address a ON a.id = d.address_id ORDER BY d.id""")).all()
        names = list(s.execute(text("SELECT name FROM person WHERE home_dwelling_id IS NOT NULL ORDER BY id")).scalars())
        compounds = list(s.execute(text("SELECT name FROM compound ORDER BY id")).scalars())

    def digits(v: str) -> str:
        return "".join(c for c in v if c.isdigit())

    out = []
    for r in rng.sample(rows, min(n, len(rows))):
        b, u, room = digits(r.building), digits(r.unit), digits(r.room)
        out += [("address", f"{r.compound}{b}-{u}-{room}"), ("address", f"鼓楼{r.road}{r.number}{r.compound}{b}栋{u}单元{room}"),
                ("address", r.full_text)]
    out += [("name", q) for q in rng.sample(names, min(n, len(names)))]
    out += [("compound", q) for q in rng.sample(compounds, min(max(1, n // 4), len(compounds)))]
    return out


def _viewers() -> list[Viewer]:
    with transaction() as s:
        rows = s.execute(text(
            """(SELECT id, role::text, jurisdiction, username FROM account WHERE role = 'street' ORDER BY id LIMIT 1)
               UNION ALL (SELECT id, role::text, jurisdiction, username FROM account WHERE role = 'worker' ORDER BY id LIMIT 1)""")).all()
    return [Viewer(r.id, Role(r.role), tuple(r.jurisdiction), r.username) for r in rows]


def _time_ms(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tiny preset and 10 sampled dwellings")
    parser.add_argument("--preset", choices=("tiny", "street", "city"), default=None)
    parser.add_argument("--dwellings", type=int, default=None, help="dwellings sampled (three address forms each)")
    args = parser.parse_args()
    preset = args.preset or ("tiny" if args.quick else "street")
    n = args.dwellings or (10 if args.quick else 60)
    if _seeded_preset() != preset:
        fresh_database(settings().database_url)
        run_seed(preset=preset, reset=True)
    rng = random.Random(17)
    queries = _queries(n, rng)
    viewers = _viewers()
    for v in viewers:  # warm-up: connections, the parser's regexes, PostgreSQL's plans
        with transaction() as s:
            search(s, v, queries[0][1])
    search_ms, floor_ms = [], []
    by_kind: dict[str, list[float]] = {}
    with transaction() as s:
        some_id = s.execute(text("SELECT min(id) FROM dwelling")).scalar_one()
    for kind, q in queries:
        for v in viewers:
            def one() -> None:
                with transaction() as s:
                    search(s, v, q)
            search_ms.append(_time_ms(one))
            by_kind.setdefault(kind, []).append(search_ms[-1])

            def floor() -> None:
                with transaction() as s:
                    s.execute(text("SELECT id, code FROM dwelling WHERE id = :i"), {"i": some_id}).all()
            floor_ms.append(_time_ms(floor))
    p50, p95 = statistics.median(search_ms), statistics.quantiles(search_ms, n=20)[18]
    floor_p50 = statistics.median(floor_ms)
    goal = GOALS_MS[preset]
    print(f"{len(search_ms)} searches on {preset}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(search_ms):.1f} ms "
          f"(goal ≤ {goal:.0f} ms); floor (one indexed look-up, same stack) p50 {floor_p50:.2f} ms; "
          f"ratio p50/floor {p50 / floor_p50:.1f}")
    kinds = {k: {"p50_ms": round(statistics.median(v), 2), "p95_ms": round(statistics.quantiles(v, n=20)[18], 2)}
             for k, v in by_kind.items() if len(v) >= 2}
    for k, v in kinds.items():
        print(f"  {k}: p50 {v['p50_ms']} ms, p95 {v['p95_ms']} ms")
    print(json.dumps({"bench": "search", "by_kind": kinds, "preset": preset, "queries": len(search_ms), "p50_ms": round(p50, 2),
                      "p95_ms": round(p95, 2), "max_ms": round(max(search_ms), 2), "goal_ms": goal,
                      "floor_p50_ms": round(floor_p50, 3), "ratio_p50_to_floor": round(p50 / floor_p50, 1),
                      "meets_goal": p95 <= goal}))


if __name__ == "__main__":
    main()
