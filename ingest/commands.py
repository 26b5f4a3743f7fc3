"""`gridpulse ingest`: run an ingest worker (several may run side by side in the group); while it runs it
also purges what retention says must go, every GRIDPULSE_RETENTION_EVERY_HOURS (blockdata/retention.py)."""
from __future__ import annotations

import argparse
import json

from core.process import long_running


def _ingest(args: argparse.Namespace) -> int:
    from blockdata.retention import RetentionSchedule
    from core.health import default_probes
    from core.probe_server import serve_probes
    from ingest.metrics import collectors
    from ingest.worker import IngestWorker

    should_stop = long_running("ingest")
    # The long-running worker also runs retention on its schedule; a batch run (--exit-when-idle) does not.
    retention = RetentionSchedule() if args.exit_when_idle is None else None
    worker = IngestWorker(consumer=args.consumer, retention=retention)
    if args.metrics_port is not None:
        serve_probes(args.metrics_port, default_probes(), collectors(worker))
    stats = worker.run(should_stop=should_stop, idle_exit_s=args.exit_when_idle)
    print(json.dumps(stats.__dict__, default=str))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="consume gate events from the Redis streams into PostGIS; run retention on its "
                                      "schedule (GRIDPULSE_RETENTION_EVERY_HOURS)")
    p.add_argument("--consumer", help="consumer name in group 'ingest' (default: host-pid)")
    p.add_argument("--exit-when-idle", type=float, default=None, metavar="SECONDS",
                   help="stop after this long with no events (for batch runs and tests; no retention schedule)")
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="serve /metrics and /healthz on this port (gridpulse serve: GRIDPULSE_METRICS_PORT_BASE + 1 + i)")
    p.set_defaults(func=_ingest)
