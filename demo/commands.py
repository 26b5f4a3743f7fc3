"""`gridpulse seed` and `gridpulse simulate`: the demo street and its residents passing the gates.

No production stage imports this stage; only the CLI (and the tests and benchmarks) do.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from core.process import long_running


def _seed(args: argparse.Namespace) -> int:
    from demo.synthetic import run_seed

    anchor = dt.date.fromisoformat(args.anchor) if args.anchor else None
    report = run_seed(preset=args.preset, seed=args.seed, days=args.days, if_empty=args.if_empty, reset=args.reset,
                      anchor=anchor, people=args.people)
    accounts = report.pop("demo_accounts", {})
    if accounts:
        # Printed once, here; only argon2 hashes are stored. Keep them somewhere safe.
        print("demo accounts (username  password), shown only now:")
        for username, password in accounts.items():
            print(f"  {username:24} {password}")
    print(json.dumps(report, ensure_ascii=False, default=str))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from demo.simulator import Simulator

    should_stop = long_running("simulate")
    faces = Path(args.faces) if args.faces else None
    sim = Simulator(speed=args.speed, seed=args.seed, face_share=args.face_share, faces_dir=faces,
                    inject_every_sim_minutes=args.inject_every or None)
    decisions = sim.run(should_stop, duration_s=args.duration)
    print(json.dumps({"decisions": decisions, "residents": len(sim.residents), "enrolled_now": sim.enrolled}))
    return 0



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("seed", help="build the deterministic synthetic demo street")
    p.add_argument("--preset", choices=("tiny", "street", "city"), default="street")
    p.add_argument("--seed", type=int, default=20261122, help="random seed: same seed, same data")
    p.add_argument("--days", type=int, default=None, help="days of gate events (default: 30, tiny 14)")
    p.add_argument("--people", type=int, default=None, metavar="N",
                   help="city preset only: about N residents (streets of about 55,000, districts of about 10 streets; "
                        "default 1 M: 18 streets in 2 districts; 55,000–20,000,000)")
    p.add_argument("--if-empty", action="store_true", help="do nothing when the database already holds a street")
    p.add_argument("--reset", action="store_true", help="delete the existing street first")
    p.add_argument("--anchor", help="the day after the last seeded day, YYYY-MM-DD (default: today, UTC)")
    p.set_defaults(func=_seed)


    p = sub.add_parser("simulate", help="the seeded residents passing the real gate bridge, live (the demo street moves)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated minutes per real minute (default 1: real time)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a new street every run)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run until stopped)")
    p.add_argument("--inject-every", type=float, default=120.0, metavar="SIM_MINUTES",
                   help="inject one anomaly (with ground truth) every so many simulated minutes; 0: none")
    p.add_argument("--face-share", type=float, default=0.4, help="share of residents enrolled with a face (app, consent)")
    p.add_argument("--faces", help="a folder of real test faces (<identity>/<photo>.jpg) lent to a few residents "
                                   "so that their entries go through the full photo pipeline")
    p.set_defaults(func=_simulate)
