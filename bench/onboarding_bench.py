"""Onboarding benchmark: the whole path of docs/ONBOARDING.md on Gulou and Xuanwu, from an empty database.

    .venv/bin/python -m bench.onboarding_bench [--quick]

Its own database (gridpulse_bench_onboarding), dropped and created. Runs ``bench.onboarding_path``
(every step a ``gridpulse`` command in-process) and prints the seconds of each step and of the whole
path, and what the street office gets: the share of buildings inside a compound, of compounds inside
one community (not spanning two), and of utility addresses linked to a dwelling, each with the counts
behind it and where they come from (the import reports). The goal is the whole path under 5 minutes.
The floor it is measured against, in the same run: the same imports as bare file reads (no checks, no
writes), so the ratio says what the checks and writes cost over reading the files at all.
``--quick``: two streets per district. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

URL = os.environ.setdefault("GRIDPULSE_DATABASE_URL",
                            "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_onboarding")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/onboarding_bench.py` as well as `python -m bench.onboarding_bench`
os.environ.setdefault("GRIDPULSE_KEY_FILE", str(ROOT / "var" / "test-secrets.json"))
GOAL_S = 300.0


def _drop_create(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{u.database}"')


def _floor_s() -> float:
    """Reading the raw files once each, as the importers do (the least any path must spend)."""
    from bench import onboarding_path as P
    from intake.importers.readers import read_features, read_table

    start = time.perf_counter()
    for path in (P.VONNG_POINTS, P.VONNG_FENCES, P.LANDUSE, P.OVERPASS, P.OVERPASS):
        read_features(path)
    read_table(P.MODOOD)
    return time.perf_counter() - start


def shares(path) -> dict:  # noqa: ANN001 - bench.onboarding_path.Path_
    """Shares from the import reports the path printed (the same numbers a person reads)."""
    b = path.step("buildings").summary
    c = path.step("compounds").summary
    in_c, no_c = b.get("buildings_in_a_compound", 0), b.get("buildings_in_no_compound", 0)
    spanning = c.get("compounds_spanning_communities", 0)
    water = [s.summary for s in path.steps if s.name.startswith("water")]
    linked = sum(w.get("written", 0) for w in water)
    queued = sum(w.get("unmatched_to_review", 0) for w in water)
    return {
        "buildings_in_a_compound": round(in_c / (in_c + no_c), 3) if in_c + no_c else None,
        "buildings": {"in_a_compound": in_c, "in_no_compound": no_c, "skipped": b.get("skipped", 0),
                      "floors_defaulted": b.get("floors_defaulted", 0)},
        "compounds_in_one_community": round(1 - spanning / c["written"], 3) if c.get("written") else None,
        "compounds": {"written": c.get("written", 0), "spanning_two_communities": spanning,
                      "skipped": c.get("skipped", 0), "unnamed": c.get("compounds_unnamed", 0)},
        "addresses_linked": round(linked / (linked + queued), 3) if linked + queued else None,
        "utility_rows": {"linked": linked, "to_review": queued},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two streets per district")
    args = parser.parse_args()
    from bench import onboarding_path as P

    _drop_create(URL)
    work = Path(tempfile.mkdtemp(prefix="onboarding-"))
    floor = _floor_s()

    def show(step) -> None:  # noqa: ANN001
        failed = f"  FAILED ({step.rc}): {step.err.strip().splitlines()[-1][:200]}" if step.rc and step.err.strip() else ""
        print(f"{step.seconds:7.1f} s  {step.name}{failed}", flush=True)

    start = time.perf_counter()
    path = P.onboard(work, list(P.DISTRICTS), streets_per_district=2 if args.quick else None, on_step=show)
    total = time.perf_counter() - start
    by_kind: dict[str, float] = {}
    for s in path.steps:
        key = s.name.split(" ")[0]
        by_kind[key] = round(by_kind.get(key, 0.0) + s.seconds, 2)
    result = {
        "bench": "onboarding", "quick": args.quick, "districts": list(P.DISTRICTS), "total_s": round(total, 1),
        "goal_s": GOAL_S, "within_goal": total < GOAL_S, "floor_read_files_s": round(floor, 2),
        "ratio_to_floor": round(total / floor, 1) if floor else None, "seconds_by_step": by_kind,
        "steps": [{"name": s.name, "s": round(s.seconds, 2)} for s in path.steps], "failed_steps": path.failed,
        **shares(path),
    }
    print(f"whole path: {total:.1f} s (goal {GOAL_S:.0f} s); {total / floor:.0f}× reading the files ({floor:.1f} s)")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
