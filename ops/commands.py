"""`gridpulse serve`, `gridpulse schedule`, `gridpulse backup` and `gridpulse restore`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.config import ops_settings


def _serve(args: argparse.Namespace) -> int:
    from core.config import PROJECT_ROOT
    from core.process import long_running
    from ops.serve import PARTS, children
    from ops.supervisor import Supervisor

    should_stop = long_running("serve")
    ops = ops_settings()
    parts = [p for p in (args.only.split(",") if args.only else PARTS) if p not in set(args.without.split(",") if args.without else ())]
    compounds = [int(c) for c in args.compounds.split(",")] if args.compounds else None
    supervisor = Supervisor(children(parts, compounds=compounds), cwd=PROJECT_ROOT, grace_s=args.grace,
                            log_dir=ops.log_dir, log_max_bytes=ops.log_max_bytes, log_backups=ops.log_backups)
    return supervisor.run(should_stop)


def _schedule(args: argparse.Namespace) -> int:
    from core.health import default_probes
    from core.process import long_running
    from core.probe_server import serve_probes
    from ops.schedule import run_schedule

    should_stop = long_running("schedule")
    if args.metrics_port is not None:
        serve_probes(args.metrics_port, default_probes())
    runs = run_schedule(should_stop)
    print(f"ran {runs} scheduled jobs")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from ops.backup import backup, prune

    made = backup(Path(args.dir))
    removed = prune(Path(args.dir), args.keep) if args.keep else []
    print(json.dumps({"file": str(made.path), "bytes": made.size, "sha256": made.sha256,
                      "seed_digest": made.manifest["seed_digest"], "audit_rows": made.manifest["audit_rows"],
                      "removed": [p.name for p in removed]}))
    print("also keep the key file (GRIDPULSE_KEY_FILE) safe, apart from the dumps: without it the ID-number "
          "hashes cannot be matched and the QR codes cannot be checked")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from ops.backup import restore

    manifest = restore(Path(args.file), args.database_url, jobs=args.jobs)
    print(json.dumps({"restored": manifest["file"], "into": args.database_url.rsplit("/", 1)[-1],
                      "seed_digest": manifest["seed_digest"], "audit_rows": manifest["audit_rows"]}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    ops = ops_settings()
    p = sub.add_parser("serve", help="run every long-running part (app, resident API, ingest, rules, scheduler, bridges); "
                                     "restart what fails, stop all on SIGTERM")
    p.add_argument("--only", help="comma-separated parts: app,residents,ingest,rules,schedule,bridges (default: all)")
    p.add_argument("--without", help="comma-separated parts to leave out (e.g. bridges, when they run at the compounds)")
    p.add_argument("--compounds", help="comma-separated compound ids to run bridges for (default: every compound)")
    p.add_argument("--grace", type=float, default=20.0, help="seconds each part gets to stop before it is killed")
    p.set_defaults(func=_serve)

    p = sub.add_parser("schedule", help="run the scheduled jobs (escalation, full rules sweep, partitions, retention, backup)")
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT", help="serve /metrics and /healthz on this port")
    p.set_defaults(func=_schedule)

    p = sub.add_parser("backup", help="dump the database (pg_dump custom format) with a manifest (sha256, seed digest)")
    p.add_argument("--dir", default=str(ops.backup_dir), help="where the dumps go (default: GRIDPULSE_BACKUP_DIR)")
    p.add_argument("--keep", type=int, default=0, help="then remove all but the newest N dumps (default: keep all)")
    p.set_defaults(func=_backup)

    p = sub.add_parser("restore", help="restore a dump into a new (or empty) database, after checking it against its manifest")
    p.add_argument("file", help="a .dump file written by gridpulse backup (its .json manifest beside it)")
    p.add_argument("--database-url", required=True,
                   help="the database to restore into: created when missing, refused when it holds tables")
    p.add_argument("--jobs", type=int, default=2, help="pg_restore's parallel jobs")
    p.set_defaults(func=_restore)
