"""`gridpulse simulate`: the gate stage's commands."""
from __future__ import annotations

import argparse
import json
import logging
import signal


def _simulate(args: argparse.Namespace) -> int:
    from gate_bridge.publisher import EventPublisher
    from gate_bridge.simulator import Simulator

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sim = Simulator(EventPublisher(), speed=args.speed, seed=args.seed)
    published = sim.run(lambda: stopping, duration_s=args.duration)
    print(json.dumps({"published": published, "residents": len(sim.residents)}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="the seeded residents passing their gates, live (the demo street moves)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated minutes per real minute (default 1: real time)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a new street every run)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run until stopped)")
    p.set_defaults(func=_simulate)
