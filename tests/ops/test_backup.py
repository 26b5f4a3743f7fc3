"""gridpulse backup → gridpulse restore into a fresh database: the same street (seed digest) and the
same audit log; a damaged dump, a dump without its manifest, and a target that already holds a base are
refused with a message that says what to do, and change nothing."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from blockdata import audit
from blockdata.db import transaction
from core.config import settings
from core.viewer import Role, Viewer
from demo.synthetic.digest import table_digest
from tests.conftest import ROOT, recreate_database
from tests.seeded import seed_tiny_swept

AUDIT_ROWS = "SELECT md5(string_agg(ROW(id, at, account_id, username, role, action, subject, reason, detail)::text, '|' ORDER BY id)), count(*) FROM audit_log"


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ}, timeout=300)


def _street(url: str) -> tuple[str, tuple]:
    with psycopg.connect(_dsn(url)) as conn, conn.cursor() as cur:
        digest = table_digest(cur)
        cur.execute(AUDIT_ROWS)
        return digest, cur.fetchone()


@pytest.fixture(scope="module")
def seeded(database_url: str) -> str:
    seed_tiny_swept()
    # Audit entries the restore must carry over: a read of people, a refusal, a login.
    viewer = Viewer(None, Role.police, ("320106",), "backup-test")
    with transaction() as s:
        audit.record(s, viewer, "person.read", "person:1", reason="backup test")
        audit.record(s, viewer, "access.denied", "grid:999", reason="backup test")
    return database_url


@pytest.fixture
def target(database_url: str):  # noqa: ANN201
    url = make_url(database_url).set(database=f"{make_url(database_url).database}_restored").render_as_string(hide_password=False)
    recreate_database(url)  # exists and empty: a restore may go there
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}_fresh"')
    yield url


def test_backup_restores_the_same_street_and_audit_log_into_a_new_database(seeded: str, target: str, tmp_path: Path) -> None:
    done = _cli("backup", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout.splitlines()[0])
    dump = Path(made["file"])
    assert dump.parent == tmp_path and dump.stat().st_size == made["bytes"]
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600, "a dump of people's data must not be world-readable"
    with psycopg.connect(_dsn(seeded)) as conn:
        recorded = conn.execute("SELECT digest FROM seed_info ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert made["seed_digest"] == recorded

    # Into a database that does not exist yet: created by the restore.
    fresh = make_url(target).set(database=f"{make_url(target).database}_fresh").render_as_string(hide_password=False)
    done = _cli("restore", str(dump), "--database-url", fresh)
    assert done.returncode == 0, done.stderr
    original_digest, original_audit = _street(seeded)
    restored_digest, restored_audit = _street(fresh)
    assert restored_digest == original_digest
    assert restored_audit == original_audit and original_audit[1] >= 2
    # The restored base is a working base: the audit log there is still append-only.
    with psycopg.connect(_dsn(fresh)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_log")
    with psycopg.connect(_dsn(seeded), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{make_url(fresh).database}" WITH (FORCE)')


def test_restore_refuses_a_database_that_holds_a_base(seeded: str, target: str, tmp_path: Path) -> None:
    from ops.backup import backup

    made = backup(tmp_path)
    assert _cli("restore", str(made.path), "--database-url", target).returncode == 0
    with psycopg.connect(_dsn(target)) as conn:
        before = conn.execute("SELECT count(*) FROM access_event").fetchone()[0]
    again = _cli("restore", str(made.path), "--database-url", target)
    assert again.returncode == 2
    assert "already holds" in again.stderr and "new database name" in again.stderr
    with psycopg.connect(_dsn(target)) as conn:
        assert conn.execute("SELECT count(*) FROM access_event").fetchone()[0] == before


def test_a_damaged_dump_or_one_without_its_manifest_is_refused(seeded: str, target: str, tmp_path: Path) -> None:
    from ops.backup import backup, manifest_path

    made = backup(tmp_path)
    data = bytearray(made.path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the dump
    made.path.write_bytes(bytes(data))
    damaged = _cli("restore", str(made.path), "--database-url", target)
    assert damaged.returncode == 2 and "does not match its manifest" in damaged.stderr

    manifest_path(made.path).unlink()
    orphan = _cli("restore", str(made.path), "--database-url", target)
    assert orphan.returncode == 2 and "no manifest" in orphan.stderr
    with psycopg.connect(_dsn(target)) as conn:  # nothing was restored by either attempt
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'").fetchone()[0] == 0


def test_backups_beyond_keep_are_removed_oldest_first(tmp_path: Path) -> None:
    from ops.backup import backups, manifest_path, prune

    names = [f"gridpulse-x-2026120{d}T023000Z.dump" for d in range(1, 6)]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        manifest_path(tmp_path / name).write_text("{}")
    removed = prune(tmp_path, keep=2)
    assert [p.name for p in removed] == names[:3]
    assert [p.name for p in backups(tmp_path)] == names[3:]
    assert not manifest_path(tmp_path / names[0]).exists()
