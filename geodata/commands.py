"""`gridpulse migrate`, `gridpulse seed` and `gridpulse partitions`: the block-data base's commands."""
from __future__ import annotations

import argparse
import datetime as dt
import json

from core.config import settings
from geodata.retention import EVENT_RETENTION_DAYS


def _migrate(args: argparse.Namespace) -> int:
    from geodata import migrate

    if args.down:
        migrate.downgrade(revision=args.revision or "base")
    else:
        migrate.upgrade(revision=args.revision or "head")
    print(f"database {settings().database_url.rsplit('/', 1)[-1]} at {'base' if args.down else 'head'}")
    return 0


def _seed(args: argparse.Namespace) -> int:
    from geodata.synthetic import run_seed

    anchor = dt.date.fromisoformat(args.anchor) if args.anchor else None
    report = run_seed(preset=args.preset, seed=args.seed, days=args.days, if_empty=args.if_empty, reset=args.reset,
                      anchor=anchor)
    accounts = report.pop("demo_accounts", {})
    if accounts:
        # Printed once, here; only argon2 hashes are stored. Keep them somewhere safe.
        print("demo accounts (username  password), shown only now:")
        for username, password in accounts.items():
            print(f"  {username:24} {password}")
    print(json.dumps(report, ensure_ascii=False, default=str))
    return 0


def _partitions(args: argparse.Namespace) -> int:
    from geodata.db import ensure_event_partitions, transaction

    today = dt.datetime.now(dt.timezone.utc).date()
    with transaction() as session:
        created = ensure_event_partitions(
            session, str(today - dt.timedelta(days=args.back)), str(today + dt.timedelta(days=args.ahead))
        )
    print(f"created {created} day partitions of access_event")
    return 0


def _retention(args: argparse.Namespace) -> int:
    from geodata.db import transaction
    from geodata.retention import purge

    with transaction() as session:
        print(json.dumps(purge(session, event_days=args.event_days)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="apply (or with --down, undo) the database migrations")
    p.add_argument("--down", action="store_true", help="downgrade instead of upgrade")
    p.add_argument("--revision", help="target revision (default: head, or base with --down)")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("seed", help="build the deterministic synthetic demo street")
    p.add_argument("--preset", choices=("tiny", "street", "city"), default="street")
    p.add_argument("--seed", type=int, default=20261122, help="random seed: same seed, same data")
    p.add_argument("--days", type=int, default=None, help="days of gate events (default: 30, tiny 14)")
    p.add_argument("--if-empty", action="store_true", help="do nothing when the database already holds a street")
    p.add_argument("--reset", action="store_true", help="delete the existing street first")
    p.add_argument("--anchor", help="the day after the last seeded day, YYYY-MM-DD (default: today, UTC)")
    p.set_defaults(func=_seed)

    p = sub.add_parser("retention", help="delete expired face templates and drop event partitions past retention")
    p.add_argument("--event-days", type=int, default=EVENT_RETENTION_DAYS,
                   help=f"keep raw gate events this many days (GRIDPULSE_EVENT_RETENTION_DAYS, now {EVENT_RETENTION_DAYS})")
    p.set_defaults(func=_retention)

    p = sub.add_parser("partitions", help="create the day partitions of access_event around today")
    p.add_argument("--back", type=int, default=1)
    p.add_argument("--ahead", type=int, default=settings().event_partition_days_ahead)
    p.set_defaults(func=_partitions)
