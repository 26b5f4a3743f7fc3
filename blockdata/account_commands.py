"""`gridpulse accounts create|list|disable|enable|reset-password|assign`: accounts and duty areas from the shell.

The first step of a real installation is ``gridpulse accounts create admin --role admin`` on the empty,
migrated database: nothing else can create the first account. Passwords are typed twice (at a terminal,
hidden; from a pipe, two lines) or generated with ``--generate`` and printed once. Each change is audited
as ``--as ACCOUNT`` (an active admin) or, by default, as the named system actor ``cli:<login>``.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from core.errors import AccessDenied, InvalidInput
from core.viewer import Role, Viewer


def actor(name: str | None) -> Viewer:
    """Who the audit log names: an active admin account (--as), else ``cli:<login name>``."""
    from sqlalchemy import select

    from blockdata.db import transaction
    from blockdata.models import Account

    if not name:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = str(os.getuid())
        return Viewer(None, Role.admin, (), f"cli:{login}"[:64])
    with transaction() as session:
        account = session.scalar(select(Account).where(Account.username == name))
        if account is None or not account.active or account.role is not Role.admin:
            raise AccessDenied("--as names an active admin account", record=f"account {name}")
        return Viewer(account.id, Role.admin, (), account.username)


def read_password(generate: bool) -> str | None:
    """None to generate one; else the password typed twice (hidden at a terminal, two lines from a pipe)."""
    if generate:
        return None
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        second = getpass.getpass("password again: ")
    else:
        lines = sys.stdin.read().splitlines()
        if len(lines) < 2:
            raise InvalidInput("type the password twice (two lines on standard input), or use --generate",
                               record="password")
        first, second = lines[0], lines[1]
    from blockdata.accounts import check_password

    return check_password(first, second)


def _shown_once(username: str, password: str | None) -> None:
    if password is not None:
        print(f"password of {username} (shown once, only its hash is stored): {password}")


def _create(args: argparse.Namespace) -> int:
    from blockdata import accounts
    from blockdata.db import transaction

    who = actor(args.as_user)
    password = read_password(args.generate)
    with transaction() as session:
        account, generated = accounts.create(session, who, username=args.username, role=Role(args.role),
                                             area=args.area, display_name=args.name, password=password)
        print(f"created {account.username} ({account.role.value}"
              f"{': ' + ', '.join(account.jurisdiction) if account.jurisdiction else ''})")
    _shown_once(args.username, generated)
    return 0


def _list(args: argparse.Namespace) -> int:
    from blockdata import accounts
    from blockdata.db import transaction

    with transaction() as session:
        rows = accounts.listing(session, include_disabled=not args.active)
    print("username\trole\tactive\tname\tarea")
    for r in rows:
        area = ", ".join(f"{c} {n}" if n != c else c for c, n in zip(r.jurisdiction, r.area_names))
        print(f"{r.username}\t{r.role}\t{'yes' if r.active else 'no'}\t{r.display_name}\t{area}")
    return 0


def _set_active(args: argparse.Namespace) -> int:
    from blockdata import accounts
    from blockdata.db import transaction

    who = actor(args.as_user)
    enable = args.action == "enable"
    with transaction() as session:
        accounts.set_active(session, who, args.username, enable)
    print(f"{args.username} {'enabled' if enable else 'disabled'}")
    return 0


def _reset(args: argparse.Namespace) -> int:
    from blockdata import accounts
    from blockdata.db import transaction

    who = actor(args.as_user)
    password = read_password(args.generate)
    with transaction() as session:
        generated = accounts.reset_password(session, who, args.username, password)
    print(f"new password set for {args.username}")
    _shown_once(args.username, generated)
    return 0


def _assign(args: argparse.Namespace) -> int:
    from blockdata import accounts
    from blockdata.db import transaction

    who = actor(args.as_user)
    with transaction() as session:
        account = accounts.assign(session, who, args.username, args.area or [], Role(args.role) if args.role else None)
        print(f"{account.username} ({account.role.value}): {', '.join(account.jurisdiction) or 'everything'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("accounts", help="accounts and duty areas: create (the first admin too), list, disable, enable, "
                                        "reset-password, assign")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    roles = [r.value for r in Role]

    def with_actor(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.add_argument("--as", dest="as_user", metavar="ADMIN",
                       help="the admin account acting (audited by name); default: the system actor cli:<login>")
        return q

    q = with_actor(acts.add_parser("create", help="a new account; the first admin of an empty database too"))
    q.add_argument("username")
    q.add_argument("--role", required=True, choices=roles,
                   help="admin; street (指挥中心); supervisor (网格长); worker (网格员); police")
    q.add_argument("--area", nargs="+", metavar="CODE",
                   help="duty area: grid codes (worker), community codes (supervisor), street/district codes "
                        "(street, police); none for an admin")
    q.add_argument("--name", help="display name (default: the username)")
    q.add_argument("--generate", action="store_true",
                   help="generate the password and print it once (default: type it twice)")
    q.set_defaults(func=_create)

    q = acts.add_parser("list", help="every account, its role and duty area (never a password)")
    q.add_argument("--active", action="store_true", help="only enabled accounts")
    q.set_defaults(func=_list)

    for name, what in (("disable", "stop an account logging in (its grids lose it)"),
                       ("enable", "let a disabled account log in again")):
        q = with_actor(acts.add_parser(name, help=what))
        q.add_argument("username")
        q.set_defaults(func=_set_active)

    q = with_actor(acts.add_parser("reset-password", help="a new password, typed twice or generated and shown once"))
    q.add_argument("username")
    q.add_argument("--generate", action="store_true", help="generate the password and print it once")
    q.set_defaults(func=_reset)

    q = with_actor(acts.add_parser("assign", help="replace an account's duty area (and role, with --role)"))
    q.add_argument("username")
    q.add_argument("--area", nargs="+", metavar="CODE", help="the new duty area (the whole of it)")
    q.add_argument("--role", choices=roles, help="a new role as well")
    q.set_defaults(func=_assign)
