"""`gridpulse serve`, `gridpulse schedule`, `gridpulse backup` and `gridpulse restore`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.config import ops_settings
from core.errors import InvalidInput


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

    if args.base:
        from ops.pitr import base_backup

        base = base_backup(Path(args.dir))
        print(json.dumps({"base": str(base.path), "finished": base.manifest["finished"], "bytes": base.manifest["bytes"],
                          "start_wal": base.manifest["start_wal"]}))
        print("restore it to any moment after 'finished' with gridpulse restore --base … --to-time … --pgdata NEW_DIR, "
              "while the WAL archive (GRIDPULSE_WAL_ARCHIVE_DIR) keeps every segment since")
        return 0

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

    if args.base or args.to_time or args.pgdata:
        return _restore_to_time(args)
    if not args.file or not args.database_url:
        raise InvalidInput("give a dump FILE and --database-url, or --base DIR --to-time TIME --pgdata NEW_DIR")
    manifest = restore(Path(args.file), args.database_url, jobs=args.jobs)
    print(json.dumps({"restored": manifest["file"], "into": args.database_url.rsplit("/", 1)[-1],
                      "seed_digest": manifest["seed_digest"], "audit_rows": manifest["audit_rows"]}))
    return 0


def _restore_to_time(args: argparse.Namespace) -> int:
    from ops.pitr import parse_time, restore_to_time

    if args.file or args.database_url:
        raise InvalidInput("a time is recovered from a base backup (--base), not from a dump: leave out FILE and --database-url")
    if not (args.base and args.to_time and args.pgdata):
        raise InvalidInput("a recovery to a time needs --base DIR, --to-time TIME and --pgdata NEW_DIR")
    archive = Path(args.archive) if args.archive else ops_settings().wal_archive_dir
    done = restore_to_time(Path(args.base), parse_time(args.to_time), Path(args.pgdata), archive=archive, port=args.port)
    print(json.dumps(done, ensure_ascii=False))
    print(f"recovered into {args.pgdata} (stopped). Start it on its own port, check it, then make it the cluster "
          "(docs/DEPLOY.md, 'Back to a point in time')")
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

    p = sub.add_parser("backup", help="dump the database (pg_dump custom format) with a manifest (sha256, seed digest); "
                                      "--base: a base backup of the cluster for point-in-time recovery")
    p.add_argument("--dir", default=str(ops.backup_dir), help="where the dumps and base backups go (default: GRIDPULSE_BACKUP_DIR)")
    p.add_argument("--base", action="store_true",
                   help="a base backup of the whole cluster (pg_basebackup) instead of a dump: with the WAL archive "
                        "it restores to any moment after it (the server must archive its WAL; docs/DEPLOY.md)")
    p.add_argument("--keep", type=int, default=0, help="then remove all but the newest N dumps (default: keep all)")
    p.set_defaults(func=_backup)

    p = sub.add_parser("restore", help="restore a dump into a new (or empty) database, after checking it against its "
                                       "manifest; or a base backup rolled forward to a time into a new data directory")
    p.add_argument("file", nargs="?", help="a .dump file written by gridpulse backup (its .json manifest beside it)")
    p.add_argument("--database-url",
                   help="the database to restore a dump into: created when missing, refused when it holds tables")
    p.add_argument("--jobs", type=int, default=2, help="pg_restore's parallel jobs")
    p.add_argument("--base", metavar="DIR", help="a base backup written by gridpulse backup --base (its .json beside it)")
    p.add_argument("--to-time", metavar="TIME",
                   help="recover to this moment: ISO 8601 with an offset, or local time (GRIDPULSE_TIMEZONE) without one; "
                        "what committed after it is not recovered")
    p.add_argument("--pgdata", metavar="NEW_DIR", help="the new data directory to recover into (refused when not empty)")
    p.add_argument("--archive", metavar="DIR", help="the WAL archive (default: GRIDPULSE_WAL_ARCHIVE_DIR)")
    p.add_argument("--port", type=int, default=5499, help="the port the recovery runs on, on no address (socket only)")
    p.set_defaults(func=_restore)
