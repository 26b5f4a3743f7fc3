"""Redis users, one per service (docs/SECURITY.md): who may write the event streams.

The stream contract (core/events.py) is only as trustworthy as whoever may XADD to ``{prefix}events:*``:
an event there becomes an entry in PostGIS, a passage in a person's movement history and an input to the
rules. So only the gate bridges' user may add to it (directly or from a script — Redis checks the commands a
script runs against the caller's ACL too); the ingest's user may read, acknowledge and trim it and add only to
its own dead-letter and "landed" streams; the app, the rules and the resident services may not change a
stream at all. Nobody connects without a password (``user default off``), and no service may run the
dangerous commands (CONFIG, FLUSHALL, KEYS, DEBUG, ACL, …). The operator's ``gridpulse-admin`` may do
everything (migrations of Redis data, tests).

``python -m core.redis_acl FILE --prefix gp: --passwords var/redis/passwords.env`` writes the ACL file
(passwords only as SHA-256) and, once, the passwords (mode 600) as the URLs each service is started with.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import secrets
from pathlib import Path

SERVICES = ("bridge", "ingest", "app", "rules", "residents", "admin")
_STREAM_WRITES = ("xadd", "xdel", "xtrim", "xsetid", "xgroup", "xack", "xclaim", "xautoclaim")


def user_name(service: str) -> str:
    return f"gridpulse-{service}"


def acl_lines(prefix: str, passwords: dict[str, str]) -> list[str]:
    """The ACL file's lines for a key prefix (``gp:`` in production, ``gptest:`` in tests)."""
    def head(service: str) -> str:
        digest = hashlib.sha256(passwords[service].encode()).hexdigest()
        return f"user {user_name(service)} on #{digest} resetkeys resetchannels"

    keys = f"~{prefix}*"
    no_stream_writes = " ".join(f"-{c}" for c in _STREAM_WRITES)
    return [
        "user default off resetkeys resetchannels -@all",
        # bridges: decide, claim single-use codes, publish events (the only XADD to the event streams)
        f"{head('bridge')} {keys} &* +@all -@dangerous",
        # ingest: read, acknowledge, claim and trim the event streams; add only to its dead letters and wake-ups
        f"{head('ingest')} {keys} &* +@all -@dangerous -xadd (~{prefix}dead ~{prefix}landed +xadd)",
        # the app, the rules and the resident services: live state, sessions, rate limits; no stream writes
        *(f"{head(s)} {keys} &* +@all -@dangerous {no_stream_writes}" for s in ("app", "rules", "residents")),
        f"{head('admin')} ~* &* +@all",
    ]


def read_passwords(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            if name.startswith("GRIDPULSE_REDIS_PASSWORD_"):
                found[name.removeprefix("GRIDPULSE_REDIS_PASSWORD_").lower()] = value
    return found


def write(acl_file: Path, passwords_file: Path, prefix: str) -> dict[str, str]:
    """Write the ACL file; keep passwords already issued, make the missing ones. Returns them by service."""
    passwords = read_passwords(passwords_file)
    for service in SERVICES:
        passwords.setdefault(service, secrets.token_urlsafe(24))
    passwords_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(passwords_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"GRIDPULSE_REDIS_PASSWORD_{s.upper()}={passwords[s]}\n" for s in SERVICES)
    acl_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(acl_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(acl_lines(prefix, passwords)) + "\n")
    return passwords


def service_url(base_url: str, service: str, password: str) -> str:
    """``redis://host:port/db`` → the same with the service's user and password."""
    scheme, _, rest = base_url.partition("://")
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{user_name(service)}:{password}@{host}"


def main() -> int:
    parser = argparse.ArgumentParser(description="write a Redis ACL file with a user per GridPulse service")
    parser.add_argument("acl_file", type=Path)
    parser.add_argument("--prefix", default="gp:", help="the services' key prefix (GRIDPULSE_REDIS_PREFIX)")
    parser.add_argument("--passwords", type=Path, required=True, help="where the passwords are kept (mode 600)")
    args = parser.parse_args()
    write(args.acl_file, args.passwords, args.prefix)
    print(f"{args.acl_file}: users {', '.join(user_name(s) for s in SERVICES)}; passwords in {args.passwords}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
