"""Point-in-time recovery: a base backup of the cluster (pg_basebackup) plus the WAL archive, replayed
up to a chosen moment (recovery_target_time) into a new data directory.

Why this beside the nightly dumps (ops/backup.py): a dump loses what was typed since the night before
(findings, grants, imports); PostgreSQL's own WAL archive (``archive_command`` in
deploy/postgresql/gridpulse.conf copies every finished 16 MB segment into ``GRIDPULSE_WAL_ARCHIVE_DIR``)
keeps every change, and a base backup plus the archive restores the cluster as it was at any moment
after the backup: just before a bad import, a mistaken bulk edit, a dropped table. Built on PostgreSQL's
own tools (pg_basebackup, pg_verifybackup, pg_ctl, pg_controldata) rather than pgBackRest: one machine,
one archive directory, nothing else to install or watch; pgBackRest is the step up for remote or
parallel archives (docs/DEPLOY.md).

A restore never touches a running cluster: it builds a NEW data directory (refused when it exists and
is not empty), runs the recovery there on a port of its own with a configuration of its own (the
restored directory keeps the original's settings for when the operator starts it), checks that the
cluster left recovery (promoted, a new timeline), and stops it. Every refusal happens before anything is
written, and a recovery that fails (its WAL missing from the archive, say) removes what it built.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from core.config import local_tz, settings
from core.errors import InvalidInput
from ops.backup import BackupFailed, _libpq

BASE_PREFIX = "base-"
_SEGMENT = re.compile(r"^[0-9A-F]{24}$")
_START_WAL = re.compile(r"^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$", re.M)
_PG_LIB = Path("/usr/lib/postgresql")


@dataclass(frozen=True)
class BaseBackup:
    path: Path
    manifest: dict


def _tool(name: str, version: str | None = None) -> str:
    """A PostgreSQL program: Debian keeps the server's (pg_ctl, pg_controldata) under /usr/lib/postgresql/<v>/bin,
    not on PATH; the version of the backup when given, since a data directory runs only under its own major."""
    dirs = [_PG_LIB / version / "bin"] if version else sorted(_PG_LIB.glob("*/bin"), key=lambda p: -int(p.parent.name)
                                                              if p.parent.name.isdigit() else 0)
    for d in dirs:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if found and not version:
        return found
    raise BackupFailed(f"{name} (PostgreSQL {version or 'any version'}) not found: install the postgresql package"
                       f"{'-' + version if version else ''}")


def _as_cluster_owner(args: list[str]) -> list[str]:
    """Server programs refuse root: as root, run them as the postgres account (a non-root caller is that account)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _give_to_cluster_owner(path: Path) -> None:
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam("postgres")
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def manifest_path(base: Path) -> Path:
    return base.parent / f"{base.name}.json"


def base_backup(directory: Path, url: str | None = None) -> BaseBackup:
    """A base backup of the whole cluster behind ``url`` into ``directory``/base-<UTC time>/ (plain format,
    with the WAL that makes it consistent and PostgreSQL's own backup_manifest), and a manifest beside it.
    Refused where the server does not archive its WAL: such a base could never be rolled forward."""
    url = url or settings().database_url
    dsn = _libpq(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        mode = conn.execute("SHOW archive_mode").fetchone()[0]
        command = conn.execute("SHOW archive_command").fetchone()[0]
        version = conn.execute("SHOW server_version_num").fetchone()[0]
    if mode not in ("on", "always") or not command.strip() or command.strip() == "(disabled)":
        raise BackupFailed(f"the server at {make_url(url).host}:{make_url(url).port or 5432} does not archive its WAL "
                           f"(archive_mode = {mode}): a base backup could not be rolled forward to a time. Set archive_mode "
                           "and archive_command as deploy/postgresql/gridpulse.conf does (docs/DEPLOY.md), restart it, retry")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    final = directory / f"{BASE_PREFIX}{stamp}"
    partial = directory / f"{BASE_PREFIX}{stamp}.partial"
    done = subprocess.run([_tool("pg_basebackup"), "-D", str(partial), "-Fp", "-Xs", "-c", "fast",
                           "--manifest-checksums=SHA256", "-d", dsn], capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupFailed(f"pg_basebackup failed: {done.stderr.strip()}")
    # The moment the base is consistent from: the server's clock once the backup has ended. A time before it
    # cannot be recovered from this base (PostgreSQL would stop before the backup's own end).
    with psycopg.connect(dsn, autocommit=True) as conn:
        finished = conn.execute("SELECT now()").fetchone()[0]
    partial.rename(final)
    label = (final / "backup_label").read_text()
    start_wal = _START_WAL.search(label)
    manifest = {"base": final.name, "created": stamp, "finished": finished.astimezone(dt.timezone.utc).isoformat(),
                "pg_version": (final / "PG_VERSION").read_text().strip(), "server_version_num": int(version),
                "start_wal": start_wal.group(1) if start_wal else None, "archive_command": command,
                "bytes": sum(p.stat().st_size for p in final.rglob("*") if p.is_file())}
    manifest_path(final).write_text(json.dumps(manifest, indent=2))
    manifest_path(final).chmod(0o600)
    return BaseBackup(final, manifest)


def base_backups(directory: Path) -> list[Path]:
    """The finished base backups in ``directory``, oldest first."""
    if not directory.exists():
        return []
    return sorted(p for p in directory.glob(f"{BASE_PREFIX}*") if p.is_dir() and not p.name.endswith(".partial"))


def parse_time(value: str) -> dt.datetime:
    """A moment as a person types it: ISO 8601 with an offset, or without one in local time (GRIDPULSE_TIMEZONE)."""
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not a time: {value!r}; write it as 2026-12-06 14:30:00 (local time) "
                           "or 2026-12-06T06:30:00+00:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local_tz())
    return moment.astimezone(dt.timezone.utc)


def _read_manifest(base: Path) -> dict:
    if not (base / "backup_label").is_file() or not (base / "PG_VERSION").is_file():
        raise BackupFailed(f"{base} is not a base backup written by gridpulse backup --base (no backup_label)")
    mpath = manifest_path(base)
    if not mpath.is_file():
        raise BackupFailed(f"{base.name} has no manifest {mpath.name} beside it; a base backup is restored only with it")
    return json.loads(mpath.read_text())


def _verify(base: Path, version: str) -> None:
    """The base's files against PostgreSQL's own backup_manifest (sizes, SHA-256, the WAL it needs)."""
    try:
        tool = _tool("pg_verifybackup", version)
    except BackupFailed:
        return  # PostgreSQL before 13 has none; the replay itself still checks every WAL record
    done = subprocess.run([tool, "--quiet", str(base)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupFailed(f"{base.name} does not match its backup_manifest: {done.stderr.strip()}")


def _archived_after(archive: Path, start_wal: str | None) -> list[str]:
    if not archive.is_dir():
        raise BackupFailed(f"no WAL archive at {archive}: the base alone cannot go forward in time; give --archive "
                           "(the directory archive_command copies into, GRIDPULSE_WAL_ARCHIVE_DIR)")
    segments = sorted(p.name for p in archive.iterdir() if _SEGMENT.match(p.name))
    # same or later timeline, same or later segment: names sort as (timeline, log, segment)
    return [s for s in segments if start_wal is None or s[8:] >= start_wal[8:]]


def _prepare_target(pgdata: Path) -> None:
    if pgdata.exists() and (not pgdata.is_dir() or any(pgdata.iterdir())):
        raise BackupFailed(f"{pgdata} exists and is not empty: recover into a new data directory, never over a cluster")


def _state(pgdata: Path, version: str) -> str:
    out = subprocess.run(_as_cluster_owner([_tool("pg_controldata", version), str(pgdata)]), capture_output=True,
                         text=True, env={**os.environ, "LC_ALL": "C"}).stdout
    found = re.search(r"^Database cluster state:\s+(.+)$", out, re.M)
    return found.group(1).strip() if found else "unknown"


def _log_lines(log: Path, *words: str) -> list[str]:
    if not log.exists():
        return []
    return [line.strip() for line in log.read_text(errors="replace").splitlines() if any(w in line for w in words)]


def restore_to_time(base: Path, target: dt.datetime, pgdata: Path, *, archive: Path, port: int,
                    timeout_s: float = 600) -> dict:
    """Build ``pgdata`` from ``base`` and replay ``archive`` up to ``target`` (the last transaction that committed
    at or before it is kept, every later one is not); returns what the recovery reported. The recovered cluster is
    left stopped, on a new timeline, with the base's own settings, for the operator to start."""
    if target.tzinfo is None:
        raise InvalidInput("the recovery target needs a time zone")
    manifest = _read_manifest(base)
    version = manifest["pg_version"]
    finished = dt.datetime.fromisoformat(manifest["finished"])
    if target < finished:
        raise BackupFailed(f"{target.isoformat()} is before base backup {base.name} was finished ({finished.isoformat()}):"
                           " this base cannot go back to then; choose a later time or an older base backup")
    if not _archived_after(archive, manifest.get("start_wal")):
        raise BackupFailed(f"the WAL archive {archive} holds no segment from base backup {base.name} on "
                           f"(its first: {manifest.get('start_wal')}): nothing to replay towards {target.isoformat()}")
    _prepare_target(pgdata)
    _verify(base, version)

    created = not pgdata.exists()
    work = Path(tempfile.mkdtemp(prefix="gp-pitr-"))
    try:
        shutil.copytree(base, pgdata, dirs_exist_ok=True, symlinks=True)
        (pgdata / "backup_manifest").unlink(missing_ok=True)  # the base's, not the recovered cluster's
        (pgdata / "recovery.signal").touch()
        pgdata.chmod(0o700)
        _give_to_cluster_owner(pgdata)
        # The recovery's own settings, apart from the restored directory's (which keep the original's for later):
        # where the WAL comes from, where to stop, then leave recovery (promote) rather than wait as a standby.
        quoted = str(archive).replace("'", "''")
        (work / "recovery.conf").write_text(
            f"restore_command = 'cp \"{quoted}/%f\" \"%p\"'\n"
            f"recovery_target_time = '{target.isoformat(sep=' ')}'\n"
            "recovery_target_inclusive = on\n"
            "recovery_target_action = 'promote'\n"
            "archive_mode = off\n"  # the copy must not write its new timeline into the original's archive
            "listen_addresses = ''\n"
            f"unix_socket_directories = '{work}'\n"
            "lc_messages = 'C'\n"
            "shared_buffers = 128MB\n")
        (work / "pg_hba.conf").write_text("local all all peer\n")  # nobody needs to connect during the replay
        (work / "pg_ident.conf").write_text("")
        work.chmod(0o755)
        _give_to_cluster_owner(work)
        log = work / "recovery.log"
        opts = (f"-p {port} -c config_file={work}/recovery.conf -c hba_file={work}/pg_hba.conf "
                f"-c ident_file={work}/pg_ident.conf")
        started = subprocess.run(_as_cluster_owner([_tool("pg_ctl", version), "-D", str(pgdata), "-w", "-t", str(int(timeout_s)),
                                                    "-o", opts, "-l", str(log), "start"]), capture_output=True, text=True)
        deadline = time.monotonic() + timeout_s
        state = _state(pgdata, version)
        while started.returncode == 0 and state != "in production" and time.monotonic() < deadline:
            if not (pgdata / "postmaster.pid").exists():
                break  # the server gave up (its FATAL is in the log)
            time.sleep(0.5)
            state = _state(pgdata, version)
        report = {"stopped_at": _log_lines(log, "recovery stopping", "last completed transaction"),
                  "timeline": _log_lines(log, "selected new timeline ID")}
        failure = _log_lines(log, "FATAL", "PANIC")
        if (pgdata / "postmaster.pid").exists():
            subprocess.run(_as_cluster_owner([_tool("pg_ctl", version), "-D", str(pgdata), "-w", "-m", "fast", "stop"]),
                           capture_output=True, text=True)
        if state != "in production":
            why = "; ".join(failure) or started.stderr.strip() or f"still {state} after {timeout_s:.0f} s"
            raise BackupFailed(f"recovery of {base.name} to {target.isoformat()} failed: {why}. Nothing was kept "
                               f"({pgdata} removed); check that {archive} holds every WAL segment since the base backup")
    except BaseException:
        if created:
            shutil.rmtree(pgdata, ignore_errors=True)
        else:
            for child in pgdata.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"base": base.name, "target": target.isoformat(), "pgdata": str(pgdata), **report}
