"""Who a command-line run acts as: an account that proved its password, or a named system actor.

``--user NAME`` alone used to be enough to export people as any account. Now an account needs its
password (from a terminal prompt, or the first line of stdin with ``--password-stdin``), checked like
the dashboard's login (argon2; an unknown name costs the same), and a failure is audited. A run that
acts for no person (a nightly job, a migration script) names itself ``system:<name>``: the audit
log then shows ``system:<name>``, never a person's account.
"""
from __future__ import annotations

import re
import secrets

from sqlalchemy import select

from core.errors import AccessDenied, InvalidInput
from core.passwords import hash_password, verify_password
from core.viewer import Role, Viewer
from blockdata import audit
from blockdata.db import transaction
from blockdata.models import Account

SYSTEM_ACTOR = re.compile(r"^system:[a-z0-9][a-z0-9-]{1,31}$")
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(16))
    return _DUMMY_HASH


def system_actor(name: str) -> Viewer:
    """A named system actor: admin rights, no account, its name in every audit line it writes."""
    if not SYSTEM_ACTOR.match(name):
        raise InvalidInput("a system actor is named system:<name> (lower-case letters, digits, -; e.g. system:nightly-export)",
                           record="--user")
    return Viewer(None, Role.admin, (), name)


def cli_viewer(username: str, password: str | None, command: str) -> Viewer:
    """The viewer a command runs as; AccessDenied (audited) unless the password is the account's."""
    if username.startswith("system"):
        return system_actor(username)
    if password is None:
        raise InvalidInput(f"--user {username} needs that account's password: run in a terminal, or pipe it with "
                           "--password-stdin; or act as a named system actor: --user system:<name>", record="--user")
    with transaction() as session:
        account = session.scalar(select(Account).where(Account.username == username[:64]))
        stored = account.password_hash if account is not None and account.password_hash else _dummy_hash()
        ok = verify_password(stored, password) and account is not None and account.active
        who = (Viewer(account.id, Role(account.role.value), tuple(account.jurisdiction or ()), account.username)
               if account is not None else Viewer(None, Role.worker, (), username[:64]))
        audit.record(session, who, "login" if ok else "login.failed", f"account:{username[:100]}", via=f"cli {command}")
    if not ok:
        raise AccessDenied(f"wrong password for --user {username}, or no such active account", record="--user")
    return who


def prompted_viewer(username: str, password_stdin: bool, command: str) -> Viewer:
    """The viewer of a command run ``--user NAME``: a system actor as named, or an account whose password
    is read from the first line of stdin (``--password-stdin``) or asked for at a terminal."""
    import getpass
    import sys

    password = None
    if not username.startswith("system"):
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"password of {username}: ")
    return cli_viewer(username, password, command)
