"""JSON logs (one object per line, extras kept), the level from configuration, rotation by size; the
scheduler's daily jobs at their local time (GRIDPULSE_TIMEZONE), and a failing job that never stops the
others."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import logs
from core.config import ops_settings
from core.errors import InvalidInput
from ops import schedule
from ops.schedule import Job, parse_hhmm, run_job
from tests.conftest import ROOT


@pytest.fixture
def restore_root_logging():  # noqa: ANN201
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(h)
        h.close()
    root.setLevel(level)


def test_json_lines_with_level_from_config_and_rotation(tmp_path: Path, restore_root_logging: None) -> None:
    cfg = dataclasses.replace(ops_settings(), log_format="json", log_level="WARNING", log_dir=tmp_path,
                              log_max_bytes=2000, log_backups=2)
    logs.setup("ingest-7", cfg)
    log = logging.getLogger("gridpulse.test")
    log.info("below the level: never written")
    log.warning("stream %s lagging", "gp:events:{0}", extra={"lag": 1200})
    lines = (tmp_path / "ingest-7.log").read_text().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["level"] == "WARNING" and doc["process"] == "ingest-7" and doc["logger"] == "gridpulse.test"
    assert doc["message"] == "stream gp:events:{0} lagging" and doc["lag"] == 1200
    assert dt.datetime.fromisoformat(doc["ts"]).utcoffset() == dt.timedelta(0)
    for i in range(100):  # ~150 bytes a line: well past 2000 bytes, rotated, at most 2 old files kept
        log.error("line %d", i)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ingest-7.log", "ingest-7.log.1", "ingest-7.log.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())


def test_setup_twice_never_doubles_lines(tmp_path: Path, restore_root_logging: None) -> None:
    cfg = dataclasses.replace(ops_settings(), log_format="text", log_level="INFO", log_dir=tmp_path)
    logs.setup("app", cfg)
    logs.setup("app", cfg)
    logging.getLogger("gridpulse.test").info("once")
    assert (tmp_path / "app.log").read_text().count("once") == 1


def test_a_wrong_level_or_format_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="GRIDPULSE_LOG_LEVEL"):
        logs.setup("x", dataclasses.replace(ops_settings(), log_level="LOUD", log_dir=tmp_path))


def test_daily_job_runs_at_local_time_not_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """03:30 in Asia/Shanghai is 19:30 UTC the day before; at 19:00 UTC the next run is half an hour away."""
    monkeypatch.setattr(schedule, "local_tz", lambda: dt.timezone(dt.timedelta(hours=8)))
    job = Job("retention", lambda: None, daily_at=parse_hhmm("03:30", "GRIDPULSE_RETENTION_AT"))
    now = dt.datetime(2026, 12, 6, 19, 0, tzinfo=dt.timezone.utc).timestamp()
    job.schedule_next(now)
    assert job.next_at - now == 30 * 60
    job.schedule_next(job.next_at)  # run at 03:30 exactly: next is tomorrow's, not the same moment again
    assert job.next_at - now == 30 * 60 + 24 * 3600


def test_interval_job_and_bad_time_of_day() -> None:
    job = Job("escalate", lambda: None, every_s=300)
    job.schedule_next(1000.0)
    assert job.next_at == 1300.0
    for bad in ("3h30", "25:00", "03:75"):
        with pytest.raises(InvalidInput, match="GRIDPULSE_BACKUP_AT must be a local time HH:MM"):
            parse_hhmm(bad, "GRIDPULSE_BACKUP_AT")
    assert parse_hhmm("", "GRIDPULSE_BACKUP_AT") is None


def test_a_failing_job_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    ran = []

    def broken() -> None:
        raise RuntimeError("database unreachable")

    caplog.set_level(logging.INFO, logger="gridpulse.schedule")
    assert run_job(Job("rules", broken, every_s=1)) is False
    assert run_job(Job("escalate", lambda: ran.append(1) or {"escalated": 0}, every_s=1)) is True
    assert ran == [1]
    failed = [r for r in caplog.records if getattr(r, "job", None) == "rules"]
    assert failed and failed[0].outcome == "failed" and "database unreachable" in caplog.text
    assert any(getattr(r, "job", None) == "escalate" and r.outcome == "ok" for r in caplog.records)


def test_bad_settings_or_parts_stop_the_command_with_one_line() -> None:
    """A mistyped part or time of day: exit 2 and one line saying what to change, nothing started."""
    serve = subprocess.run([sys.executable, "-m", "cli", "serve", "--only", "app,ingset"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert serve.returncode == 2
    assert serve.stderr.strip().splitlines() == [
        "gridpulse serve: --only/--without: unknown parts ['ingset']; choose from app, residents, ingest, rules, schedule, bridges"]
    sched = subprocess.run([sys.executable, "-m", "cli", "schedule"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "GRIDPULSE_RETENTION_AT": "3h"})
    assert sched.returncode == 2
    assert sched.stderr.strip().splitlines()[-1] == (
        "gridpulse schedule: GRIDPULSE_RETENTION_AT must be a local time HH:MM (e.g. 03:30) or empty, not '3h'")
