"""`gridpulse basis grant|revoke|list`: the legal basis of a compound's population-library fallback.

Before this command the only way to switch the fallback on was an INSERT in SQL, which left no audit
entry and no check of who decided. Granting and revoking act as an admin account that proves its
password (typed at a terminal, or the first line of stdin with ``--password-stdin``) or as a named
system actor ``system:<name>`` (blockdata/cli_actor.py); listing shows no personal data and needs neither.
"""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from core.config import local_tz
from core.errors import InvalidInput
from core.viewer import Viewer


def _day(value: str) -> dt.date:
    """argparse type of --until: a calendar day, YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a day: write YYYY-MM-DD, e.g. 2027-06-30") from None


def _viewer(args: argparse.Namespace, command: str) -> Viewer:
    """The account the command acts as, with its password, or a system actor (no password)."""
    from blockdata.cli_actor import cli_viewer

    password = None
    if not args.user.startswith("system"):
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"password of {args.user}: ")
    return cli_viewer(args.user, password, command)


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def _grant(args: argparse.Namespace) -> int:
    from blockdata import population_basis
    from blockdata.db import transaction

    if not args.document.strip():  # refused before a password is asked for
        raise InvalidInput("name the document the basis rests on (e.g. 公安机关协查函 2026-118)", record="--document")
    viewer = _viewer(args, "basis grant")
    with transaction() as session:
        basis = population_basis.grant(session, viewer, compound_code=args.compound, document=args.document,
                                       last_day=args.until, per_minute=args.per_minute)
        print(f"basis #{basis.id}: population-library fallback on for compound {args.compound.strip()} through "
              f"{args.until.isoformat()} (ends {_when(basis.valid_until)} {local_tz().key}; "
              f"{basis.lookups_per_minute} searches a minute per gate), "
              f"granted by {basis.granted_by} under {basis.document}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from blockdata import population_basis
    from blockdata.db import transaction

    viewer = _viewer(args, "basis revoke")
    with transaction() as session:
        basis = population_basis.revoke(session, viewer, args.basis_id)
        print(f"basis #{basis.id} revoked at {_when(basis.revoked_at)} by {viewer.username}: "
              "the compound's population-library fallback is off unless another basis is live")
    return 0


def _list(args: argparse.Namespace) -> int:
    from blockdata import population_basis
    from blockdata.db import transaction

    with transaction() as session:
        rows = population_basis.listing(session, args.compound)
    print("id\tcompound\tname\tstatus\tgranted_by\tdocument\tvalid_from\tvalid_until\tper_minute\trevoked_at")
    for r in rows:
        print(f"{r.id}\t{r.compound_code}\t{r.compound_name}\t{r.status}\t{r.granted_by}\t{r.document}\t"
              f"{_when(r.valid_from)}\t{_when(r.valid_until)}\t{r.lookups_per_minute}\t{_when(r.revoked_at)}")
    return 0


def _with_actor(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
    q.add_argument("--user", required=True, metavar="ADMIN",
                   help="the admin account deciding (its password is asked for), or a named system actor system:<name>")
    q.add_argument("--password-stdin", action="store_true",
                   help="read the account's password from the first line of standard input")
    return q


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("basis", help="the legal basis that switches a compound's population-library fallback on: "
                                     "grant, revoke, list (docs/SECURITY.md section 1)")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    q = _with_actor(acts.add_parser("grant", help="record a compound's legal basis: who, which document, until when; "
                                                  "audited"))
    q.add_argument("--compound", required=True, metavar="CODE", help="the compound's code (小区编码)")
    q.add_argument("--document", required=True, help="the document the basis rests on, e.g. 公安机关协查函 2026-118")
    q.add_argument("--until", required=True, type=_day, metavar="YYYY-MM-DD",
                   help="the last day the basis holds (through the end of that day, GRIDPULSE_TIMEZONE); today or later")
    q.add_argument("--per-minute", type=int, default=30, metavar="N",
                   help="population searches each gate may make a minute, 1-600 (default 30)")
    q.set_defaults(func=_grant)

    q = _with_actor(acts.add_parser("revoke", help="switch a basis off now; audited"))
    q.add_argument("basis_id", type=int, metavar="ID", help="the basis's id (gridpulse basis list)")
    q.set_defaults(func=_revoke)

    q = acts.add_parser("list", help="every basis, newest first, with its status (live, revoked, expired, pending); "
                                          "times in GRIDPULSE_TIMEZONE")
    q.add_argument("--compound", metavar="CODE", help="only this compound's")
    q.set_defaults(func=_list)
