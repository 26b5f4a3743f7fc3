"""`gridpulse bridge`, `gridpulse gate-key` and `gridpulse simulate`: the gate stage's commands."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from core.process import long_running


def _simulate(args: argparse.Namespace) -> int:
    from gate_bridge.simulator import Simulator

    should_stop = long_running("simulate")
    faces = Path(args.faces) if args.faces else None
    sim = Simulator(speed=args.speed, seed=args.seed, face_share=args.face_share, faces_dir=faces,
                    inject_every_sim_minutes=args.inject_every or None)
    decisions = sim.run(should_stop, duration_s=args.duration)
    print(json.dumps({"decisions": decisions, "residents": len(sim.residents), "enrolled_now": sim.enrolled}))
    return 0


def _bridge(args: argparse.Namespace) -> int:
    import uvicorn

    from gate_bridge.api import create_api
    from gate_bridge.face_pipeline import shared_pipeline
    from gate_bridge.service import build_policy

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    policy = build_policy(args.compound, batch_qr=True)
    policy.cache.start()
    uvicorn.run(create_api(policy, shared_pipeline()), host=args.host, port=args.port, log_level="info")
    return 0


def _gate_key(args: argparse.Namespace) -> int:
    import secrets

    from gate_bridge.access_cache import key_hash
    from geodata.db import transaction
    from sqlalchemy import text

    key = secrets.token_urlsafe(24)
    with transaction() as session:
        updated = session.execute(text("UPDATE gate SET key_hash = :h WHERE code = :c RETURNING id"),
                                  {"h": key_hash(key), "c": args.gate}).first()
    if updated is None:
        print(f"gridpulse gate-key: no gate with code {args.gate}")
        return 2
    print(f"gate {args.gate} (id {updated[0]}): key {key}  (shown once; only its hash is stored)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bridge", help="serve one compound's gate bridge (QR, face photo and face template decisions; events)")
    p.add_argument("--compound", type=int, required=True, help="compound id")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8060)
    p.set_defaults(func=_bridge)

    p = sub.add_parser("gate-key", help="issue a new key for a gate device (replaces the old one)")
    p.add_argument("gate", help="gate code, e.g. C0001-G1")
    p.set_defaults(func=_gate_key)

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
