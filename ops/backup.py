"""`gridpulse backup` and `gridpulse restore`: the block-data base in pg_dump's custom format.

Why pg_dump custom format beside the base backups and WAL archive (docs/DEPLOY.md has the whole case):
one street's base is a few GB; a dump is one consistent snapshot taken while the app runs, restores
into any fresh database of the same or a newer PostgreSQL (a test machine, the next server), needs no
repository or archive_command to configure and check, and can restore one table. What it cannot do is
point-in-time recovery: what happened since the last dump is lost with the server. For the gate events
that is covered twice (the bridges' outboxes and the AOF-persisted streams are not trimmed below what
ingest has acked, and a restored base re-ingests nothing twice: event ids make writes idempotent); for
the people's data entered by hand between two dumps it is not: that is what a base backup and the WAL
archive are for (ops/pitr.py, `gridpulse backup --base`, `gridpulse restore --to-time`).

Each dump gets a manifest beside it (sha256, size, database, schema revision, seed digest when the
street was seeded) so a restore refuses a truncated or altered file. A restore goes into a database
that does not exist yet (created here) or is empty: never over a live base.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from core.config import settings
from core.errors import InvalidInput

SUFFIX = ".dump"


class BackupFailed(InvalidInput):
    """pg_dump or pg_restore refused; the message carries their own words."""


@dataclass(frozen=True)
class Made:
    path: Path
    size: int
    sha256: str
    manifest: dict


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupFailed(f"{name} not found: install postgresql-client (apt-get install postgresql-client)")
    return found


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _facts(dsn: str) -> dict:
    """What the manifest says about the base: schema revision and, for a seeded street, its digest."""
    with psycopg.connect(dsn) as conn:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        seeded = conn.execute("SELECT to_regclass('seed_info') IS NOT NULL").fetchone()[0]
        digest = conn.execute("SELECT digest FROM seed_info ORDER BY id DESC LIMIT 1").fetchone() if seeded else None
        audit = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM audit_log").fetchone()
    return {"schema_revision": revision[0] if revision else None, "seed_digest": digest[0] if digest else None,
            "audit_rows": audit[0], "audit_max_id": audit[1]}


def manifest_path(dump: Path) -> Path:
    return dump.with_suffix(".json")


def backup(directory: Path, url: str | None = None) -> Made:
    """Dump the database at ``url`` (default: the configured one) into ``directory``; returns the file."""
    url = url or settings().database_url
    dsn = _libpq(url)
    name = make_url(url).database
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)  # the dumps hold people's data: for the service's account only
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    final = directory / f"gridpulse-{name}-{stamp}{SUFFIX}"
    partial = final.with_suffix(".partial")
    partial.touch(mode=0o600)
    facts = _facts(dsn)
    done = subprocess.run([_tool("pg_dump"), "--format=custom", "--compress=6", f"--file={partial}", dsn],
                          capture_output=True, text=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupFailed(f"pg_dump failed: {done.stderr.strip()}")
    partial.rename(final)  # a file with the final name is always a whole dump
    size, digest = final.stat().st_size, _sha256(final)
    manifest = {"file": final.name, "database": name, "created": stamp, "bytes": size, "sha256": digest,
                "format": "pg_dump custom", "pg_dump": _version("pg_dump"), **facts}
    manifest_path(final).write_text(json.dumps(manifest, indent=2))
    manifest_path(final).chmod(0o600)
    return Made(final, size, digest, manifest)


def _version(tool: str) -> str:
    return subprocess.run([_tool(tool), "--version"], capture_output=True, text=True).stdout.strip()


def backups(directory: Path) -> list[Path]:
    """The dumps in ``directory``, oldest first (their names sort by time)."""
    return sorted(directory.glob(f"gridpulse-*{SUFFIX}")) if directory.exists() else []


def prune(directory: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` dumps (with their manifests); returns what was removed."""
    old = backups(directory)[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
        manifest_path(path).unlink(missing_ok=True)
    return old


def verify(dump: Path) -> dict:
    """The dump's manifest, after checking the file against it (and that pg_restore can read it)."""
    if not dump.is_file():
        raise BackupFailed(f"no backup file {dump}")
    mpath = manifest_path(dump)
    if not mpath.is_file():
        raise BackupFailed(f"{dump.name} has no manifest {mpath.name} beside it; a dump is restored only with its manifest")
    manifest = json.loads(mpath.read_text())
    if dump.stat().st_size != manifest["bytes"] or _sha256(dump) != manifest["sha256"]:
        raise BackupFailed(f"{dump.name} does not match its manifest (size or sha256): the file is damaged or was changed")
    listed = subprocess.run([_tool("pg_restore"), "--list", str(dump)], capture_output=True, text=True)
    if listed.returncode != 0:
        raise BackupFailed(f"pg_restore cannot read {dump.name}: {listed.stderr.strip()}")
    return manifest


def _prepare_target(url: str) -> None:
    """Create the target database, or accept it when it exists and holds no table of its own."""
    u = make_url(url)
    admin = _libpq(u.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{u.database}"')
            return
    with psycopg.connect(_libpq(url)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'tiger', 'topology')"
            " AND tablename <> 'spatial_ref_sys'").fetchone()[0]
    if tables:
        raise BackupFailed(f"database {u.database} already holds {tables} tables; restore into a new database name "
                           f"(then point GRIDPULSE_DATABASE_URL at it), never over a live base")


def restore(dump: Path, url: str, jobs: int = 2) -> dict:
    """Restore ``dump`` into the (new or empty) database at ``url``; returns the dump's manifest."""
    manifest = verify(dump)
    _prepare_target(url)
    done = subprocess.run([_tool("pg_restore"), "--exit-on-error", f"--jobs={max(1, jobs)}",
                           f"--dbname={_libpq(url)}", str(dump)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupFailed(f"pg_restore into {make_url(url).database} failed: {done.stderr.strip()}")
    return manifest
