"""`gridpulse ingest`: run an ingest worker (several may run side by side in the group)."""
from __future__ import annotations

import argparse
import json
import logging
import signal


def _ingest(args: argparse.Namespace) -> int:
    from ingest.worker import IngestWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker = IngestWorker(consumer=args.consumer)
    stats = worker.run(should_stop=lambda: stopping, idle_exit_s=args.exit_when_idle)
    print(json.dumps(stats.__dict__, default=str))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="consume gate events from the Redis streams into PostGIS")
    p.add_argument("--consumer", help="consumer name in group 'ingest' (default: host-pid)")
    p.add_argument("--exit-when-idle", type=float, default=None, metavar="SECONDS",
                   help="stop after this long with no events (for batch runs and tests)")
    p.set_defaults(func=_ingest)
