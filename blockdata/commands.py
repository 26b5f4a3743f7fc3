"""`gridpulse migrate`, `gridpulse partitions` and `gridpulse retention`: the block-data base's commands."""
from __future__ import annotations

import argparse
import datetime as dt
import json

from core.config import settings


def _migrate(args: argparse.Namespace) -> int:
    from blockdata import migrate

    if args.down:
        migrate.downgrade(revision=args.revision or "base")
    else:
        migrate.upgrade(revision=args.revision or "head")
    print(f"database {settings().database_url.rsplit('/', 1)[-1]} at {args.revision or ('base' if args.down else 'head')}")
    return 0


def _partitions(args: argparse.Namespace) -> int:
    from blockdata.db import ensure_event_partitions, transaction

    today = dt.datetime.now(dt.timezone.utc).date()
    with transaction() as session:
        created = ensure_event_partitions(
            session, str(today - dt.timedelta(days=args.back)), str(today + dt.timedelta(days=args.ahead))
        )
    print(f"created {created} day partitions of access_event")
    return 0


def _retention(args: argparse.Namespace) -> int:
    from blockdata.db import transaction
    from blockdata.retention import purge

    from blockdata import audit
    from blockdata.retention import ACTOR, take_turn

    with transaction() as session:
        take_turn(session, wait=True)  # after a running worker's purge, never beside it
        report = purge(session, event_days=args.event_days)
        audit.record(session, ACTOR, "retention", "retention:manual", **report)
        print(json.dumps(report))
    return 0


def _keys_split(args: argparse.Namespace) -> int:
    from core.keys import split

    for service, path in split().items():
        print(f"{service}: {path} (mode 600)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from blockdata import account_commands, basis_commands

    account_commands.register(sub)
    basis_commands.register(sub)
    p = sub.add_parser("migrate", help="apply (or with --down, undo) the database migrations")
    p.add_argument("--down", action="store_true", help="downgrade instead of upgrade")
    p.add_argument("--revision", help="target revision (default: head, or base with --down)")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("retention", help="delete expired face templates and the pseudonyms strangers left in events, "
                                         "drop event partitions past retention (the ingest worker also does this on a schedule)")
    p.add_argument("--event-days", type=int, default=None,
                   help="keep raw gate events this many days (default: GRIDPULSE_EVENT_RETENTION_DAYS, 180)")
    p.set_defaults(func=_retention)

    p = sub.add_parser("partitions", help="create the day partitions of access_event around today")
    p.add_argument("--back", type=int, default=1)
    p.add_argument("--ahead", type=int, default=settings().event_partition_days_ahead)
    p.set_defaults(func=_partitions)

    p = sub.add_parser("keys", help="the services' own key files (docs/SECURITY.md)")
    keys = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    k = keys.add_parser("split", help="write the bridge's and the resident services' key files from the platform's "
                                      "(GRIDPULSE_KEY_FILE → GRIDPULSE_BRIDGE_KEY_FILE, GRIDPULSE_RESIDENTS_KEY_FILE)")
    k.set_defaults(func=_keys_split)
