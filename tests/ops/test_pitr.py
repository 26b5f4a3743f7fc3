"""Point-in-time recovery on a PostgreSQL cluster of the test's own (WAL archived into a folder of its own; the
shared cluster on 5432 is never touched): a base backup, rows and audit entries written, the time noted, more
written; `gridpulse restore --base … --to-time T` gives a cluster that holds what was committed by T and nothing
committed after it — with T written in UTC or in local time (Asia/Shanghai) alike. A time before the base
backup, a missing or emptied archive, an archive without the segments after the backup, and a server that does
not archive are refused with a message that says what to do, and leave nothing behind."""
from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import text

from blockdata import audit, migrate
from blockdata.db import transaction
from core.viewer import Role, Viewer
from tests.browser import free_port
from tests.conftest import ROOT
from tests.ops.pg_server import OwnPostgres, own_postgres
from tests.streams import wait_for

DB = "gridpulse_pitr_test"
VIEWER = Viewer(None, Role.admin, (), "pitr-test")


def _cli(env_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "GRIDPULSE_DATABASE_URL": env_url, "GRIDPULSE_TIMEZONE": "Asia/Shanghai"})


def _for_postgres(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def _write(url: str, tag: str, codes: list[str]) -> dt.datetime:
    """Districts and an audit entry in one transaction; returns the server's clock right after the commit."""
    with transaction(url) as s:
        for code in codes:
            s.execute(text(
                "INSERT INTO region (code, parent_code, level, name) VALUES (:c, '320100000000', 'district', :n)"),
                {"c": code, "n": f"{tag}{code[4:6]}"})
        audit.record(s, VIEWER, "region.create", f"pitr:{tag}", reason="point-in-time recovery test")
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def _archive_everything(pg_url: str) -> None:
    """Close the current WAL segment and wait until the server has archived it (what a quiet server does on its own
    within archive_timeout)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]

        def archived() -> bool:
            last = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
            return last is not None and last >= segment

        assert wait_for(archived, 60, 0.3), conn.execute("SELECT * FROM pg_stat_archiver").fetchone()


@pytest.fixture(scope="module")
def street() -> dict:
    """The own cluster, archiving; the GridPulse schema; a base backup; then 'early' rows, the noted time, 'late' rows."""
    with own_postgres() as pg:
        root = pg.data.parent
        archive = _for_postgres(root / "wal-archive")
        with open(pg.data / "postgresql.conf", "a") as fh:  # as deploy/postgresql/gridpulse.conf, with this archive
            fh.write(f"wal_level = replica\narchive_mode = on\n"
                     f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'\n")
        pg.stop()
        pg.start()
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB}")
        url = pg.url(DB)
        migrate.upgrade(url)
        with transaction(url) as s:
            s.execute(text(
                "INSERT INTO region (code, parent_code, level, name) VALUES ('320100000000', NULL, 'city', '南京市')"))
        with psycopg.connect(pg.admin_url) as conn:
            before_base = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        backups = _for_postgres(root / "backups")
        done = _cli(url, "backup", "--base", "--dir", str(backups))
        assert done.returncode == 0, done.stderr
        base = Path(json.loads(done.stdout.splitlines()[0])["base"])
        early = ["320102000000", "320104000000"]
        late = ["320105000000", "320106000000"]
        noted = _write(url, "early", early)
        _write(url, "late", late)
        _archive_everything(pg.admin_url)
        yield {"pg": pg, "url": url, "root": root, "archive": archive, "base": base, "noted": noted,
               "before_base": before_base, "early": early, "late": late}


def _recovered(street: dict, pgdata: Path) -> tuple[set[str], set[str]]:
    """Start the recovered directory on a port of its own; its districts and its test audit subjects."""
    server = OwnPostgres(free_port(), pgdata)
    server.start()
    try:
        with psycopg.connect(server.url(DB).replace("+psycopg", "")) as conn:
            districts = {r[0] for r in conn.execute("SELECT code FROM region WHERE level = 'district'")}
            subjects = {r[0] for r in conn.execute("SELECT subject FROM audit_log WHERE subject LIKE 'pitr:%'")}
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False, "promoted: it takes writes"
        return districts, subjects
    finally:
        server.stop()


def test_recovery_to_the_noted_time_keeps_what_came_before_and_nothing_after(street: dict) -> None:
    pgdata = street["root"] / "recovered-utc"
    noted_utc = street["noted"].astimezone(dt.timezone.utc).isoformat()
    done = _cli(street["url"], "restore", "--base", str(street["base"]), "--to-time", noted_utc,
                "--pgdata", str(pgdata), "--archive", str(street["archive"]))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[0])
    assert report["pgdata"] == str(pgdata) and any("timeline" in line for line in report["timeline"])
    districts, subjects = _recovered(street, pgdata)
    assert districts == set(street["early"]), "the rows written before the noted time, and none after"
    assert subjects == {"pitr:early"}, "the audit log as it was at the noted time"
    # the original still has everything: the recovery read the base and the archive, nothing else
    with psycopg.connect(street["url"].replace("+psycopg", "")) as conn:
        assert {r[0] for r in conn.execute("SELECT code FROM region WHERE level = 'district'")} == set(
            street["early"] + street["late"])
    shutil.rmtree(pgdata)


def test_the_same_moment_in_local_time_recovers_the_same(street: dict) -> None:
    """A time typed without an offset is local (GRIDPULSE_TIMEZONE, here Asia/Shanghai, UTC+8): eight hours off if
    read as UTC, which would recover everything (or nothing)."""
    pgdata = street["root"] / "recovered-local"
    local = street["noted"].astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None).isoformat(sep=" ")
    done = _cli(street["url"], "restore", "--base", str(street["base"]), "--to-time", local,
                "--pgdata", str(pgdata), "--archive", str(street["archive"]))
    assert done.returncode == 0, done.stderr
    assert _recovered(street, pgdata) == (set(street["early"]), {"pitr:early"})
    shutil.rmtree(pgdata)


def test_a_time_before_the_base_backup_is_refused_and_nothing_is_made(street: dict) -> None:
    pgdata = street["root"] / "recovered-too-early"
    done = _cli(street["url"], "restore", "--base", str(street["base"]), "--to-time", street["before_base"].isoformat(),
                "--pgdata", str(pgdata), "--archive", str(street["archive"]))
    assert done.returncode == 2
    assert "before base backup" in done.stderr and "older base backup" in done.stderr
    assert not pgdata.exists()


def test_a_missing_or_empty_archive_is_refused_and_nothing_is_made(street: dict) -> None:
    pgdata = street["root"] / "recovered-no-archive"
    noted = street["noted"].isoformat()
    gone = _cli(street["url"], "restore", "--base", str(street["base"]), "--to-time", noted, "--pgdata", str(pgdata),
                "--archive", str(street["root"] / "no-such-archive"))
    assert gone.returncode == 2 and "no WAL archive at" in gone.stderr
    empty = _for_postgres(street["root"] / "empty-archive")
    emptied = _cli(street["url"], "restore", "--base", str(street["base"]), "--to-time", noted, "--pgdata", str(pgdata),
                   "--archive", str(empty))
    assert emptied.returncode == 2 and "holds no segment" in emptied.stderr
    assert not pgdata.exists()


def test_an_archive_without_the_later_segments_fails_the_recovery_and_removes_it(street: dict) -> None:
    """The archive has the segment the base starts in but lost the ones after it: PostgreSQL runs out of WAL before
    the noted time; the half-recovered directory is not left behind as if it were the cluster at that time."""
    base_manifest = json.loads((street["base"].parent / f"{street['base'].name}.json").read_text())
    partial = _for_postgres(street["root"] / "partial-archive")
    for seg in sorted(street["archive"].iterdir()):
        if seg.name == base_manifest["start_wal"]:
            shutil.copy2(seg, partial / seg.name)
    assert [p.name for p in partial.iterdir()] == [base_manifest["start_wal"]]
    pgdata = street["root"] / "recovered-partial"
    done = _cli(street["url"], "restore", "--base", str(street["base"]), "--to-time", street["noted"].isoformat(),
                "--pgdata", str(pgdata), "--archive", str(partial))
    assert done.returncode == 2, done.stdout
    assert "failed" in done.stderr and "recovery ended before configured recovery target was reached" in done.stderr
    assert not pgdata.exists()


def test_an_altered_base_backup_is_refused_and_nothing_is_made(street: dict) -> None:
    """One table file of a copy of the base changed after the backup: PostgreSQL's own backup_manifest says so."""
    altered = street["root"] / "backups" / f"{street['base'].name}-altered"
    shutil.copytree(street["base"], altered, symlinks=True)
    shutil.copy2(street["base"].parent / f"{street['base'].name}.json", altered.parent / f"{altered.name}.json")
    victim = max((p for p in (altered / "base").rglob("*") if p.is_file() and p.name.isdigit()), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    pgdata = street["root"] / "recovered-altered"
    done = _cli(street["url"], "restore", "--base", str(altered), "--to-time", street["noted"].isoformat(),
                "--pgdata", str(pgdata), "--archive", str(street["archive"]))
    assert done.returncode == 2 and "does not match its backup_manifest" in done.stderr, done.stderr
    assert not pgdata.exists()


def test_a_base_backup_of_a_server_that_does_not_archive_is_refused(tmp_path: Path) -> None:
    with own_postgres() as pg:
        done = _cli(pg.url("postgres"), "backup", "--base", "--dir", str(tmp_path / "b"))
    assert done.returncode == 2
    assert "does not archive its WAL" in done.stderr and "deploy/postgresql/gridpulse.conf" in done.stderr
    assert not (tmp_path / "b").exists(), "refused before anything was written"


def test_restore_without_a_dump_or_a_base_says_what_it_needs(street: dict) -> None:
    done = _cli(street["url"], "restore")
    assert done.returncode == 2 and "--base DIR --to-time TIME --pgdata NEW_DIR" in done.stderr
    mixed = _cli(street["url"], "restore", "x.dump", "--base", str(street["base"]), "--to-time", "2026-12-06 10:00",
                 "--pgdata", str(street["root"] / "never"))
    assert mixed.returncode == 2 and "not from a dump" in mixed.stderr
    assert not (street["root"] / "never").exists()
