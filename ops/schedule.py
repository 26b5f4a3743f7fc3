"""`gridpulse schedule`: the jobs that must run by themselves, each run logged and counted.

| job | when | what |
| --- | --- | --- |
| escalate | every ``GRIDPULSE_ESCALATE_EVERY_S`` (300 s) | overdue work orders escalated |
| rules | every ``GRIDPULSE_FULL_SWEEP_EVERY_S`` (600 s; 0: never) | every rule swept |
| partitions | every ``GRIDPULSE_PARTITIONS_EVERY_S`` (3600 s) | day partitions of access_event ahead |
| population_expire | every ``GRIDPULSE_POPULATION_EXPIRE_EVERY_S`` (60 s) | passages aged past their window out of the real-time population |
| population_reconcile | every ``GRIDPULSE_POPULATION_RECONCILE_EVERY_S`` (3600 s; 0: never) | the real-time population recomputed, drift reported and repaired |
| retention | daily at ``GRIDPULSE_RETENTION_AT`` (03:30 local) | expired templates deleted, old partitions dropped |
| backup | daily at ``GRIDPULSE_BACKUP_AT`` (02:30 local; empty: never) | `gridpulse backup`, oldest beyond ``GRIDPULSE_BACKUP_KEEP`` removed |

Interval jobs run once at start (a restarted scheduler catches up at once), daily jobs at their next
local time. A failing job is logged with its error and tried again at its next time; it never stops the
others. One scheduler per street: the jobs are idempotent, but two would do the work twice.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from core.config import OpsSettings, local_tz, ops_settings, settings
from core.errors import InvalidInput

log = logging.getLogger("gridpulse.schedule")

JOB_RUNS = Counter("gridpulse_job_runs_total", "Scheduled job runs by outcome", ["job", "outcome"])
JOB_SECONDS = Histogram("gridpulse_job_seconds", "Time a scheduled job takes", ["job"],
                        buckets=(0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600))
JOB_LAST_SUCCESS = Gauge("gridpulse_job_last_success_timestamp_seconds", "When a job last succeeded (Unix time)", ["job"])


@dataclass
class Job:
    name: str
    run: Callable[[], object]
    every_s: float | None = None  # an interval job …
    daily_at: dt.time | None = None  # … or a daily one, local time
    next_at: float = 0.0  # Unix time

    def schedule_next(self, now: float) -> None:
        if self.every_s is not None:
            self.next_at = now + self.every_s
            return
        assert self.daily_at is not None
        tz = local_tz()
        local_now = dt.datetime.fromtimestamp(now, tz)
        at = dt.datetime.combine(local_now.date(), self.daily_at, tzinfo=tz)
        if at.timestamp() <= now:
            at = dt.datetime.combine(local_now.date() + dt.timedelta(days=1), self.daily_at, tzinfo=tz)
        self.next_at = at.timestamp()


def parse_hhmm(value: str, name: str) -> dt.time | None:
    if not value:
        return None
    try:
        hours, minutes = value.split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise InvalidInput(f"{name} must be a local time HH:MM (e.g. 03:30) or empty, not {value!r}") from None


def _escalate() -> object:
    from analytics.work_orders import escalate_overdue
    from blockdata.db import transaction

    with transaction() as session:
        return {"escalated": escalate_overdue(session, dt.datetime.now(dt.timezone.utc))}


def _rules() -> object:
    from analytics.metrics import observe_sweep
    from analytics.sweep import run_rules
    from blockdata.db import transaction

    with transaction() as session:
        report = run_rules(session, dt.datetime.now(dt.timezone.utc))
    observe_sweep(report, "full")
    return {"seconds": report["seconds"], "new_alerts": {k: v["new_alerts"] for k, v in report["rules"].items()  # type: ignore[union-attr]
                                                         if v["new_alerts"]}}


def _partitions() -> object:
    from blockdata.db import ensure_event_partitions, transaction

    today = dt.datetime.now(dt.timezone.utc).date()
    with transaction() as session:
        return {"created": ensure_event_partitions(session, str(today - dt.timedelta(days=1)),
                                                   str(today + dt.timedelta(days=settings().event_partition_days_ahead)))}


def _population_expire() -> object:
    from analytics.population_reconcile import expire
    from blockdata.db import transaction

    with transaction() as session:
        return expire(session)


def _population_reconcile() -> object:
    from analytics.population_reconcile import reconcile
    from blockdata.db import transaction

    with transaction() as session:
        report = reconcile(session)
    return {k: v for k, v in report.as_dict().items() if k != "examples"}


def _retention() -> object:
    from blockdata.db import transaction
    from blockdata.retention import purge

    with transaction() as session:
        return purge(session)


def _backup(ops: OpsSettings) -> Callable[[], object]:
    def run() -> object:
        from ops.backup import backup, prune

        made = backup(ops.backup_dir)
        return {"file": str(made.path), "bytes": made.size, "removed": [p.name for p in prune(ops.backup_dir, ops.backup_keep)]}

    return run


def jobs(ops: OpsSettings | None = None) -> list[Job]:
    ops = ops or ops_settings()
    out = [Job("escalate", _escalate, every_s=ops.escalate_every_s),
           Job("partitions", _partitions, every_s=ops.partitions_every_s),
           Job("population_expire", _population_expire, every_s=ops.population_expire_every_s)]
    if ops.population_reconcile_every_s > 0:
        out.append(Job("population_reconcile", _population_reconcile, every_s=ops.population_reconcile_every_s))
    if ops.full_sweep_every_s > 0:
        out.append(Job("rules", _rules, every_s=ops.full_sweep_every_s))
    retention_at = parse_hhmm(ops.retention_at, "GRIDPULSE_RETENTION_AT")
    if retention_at is not None:
        out.append(Job("retention", _retention, daily_at=retention_at))
    backup_at = parse_hhmm(ops.backup_at, "GRIDPULSE_BACKUP_AT")
    if backup_at is not None:
        out.append(Job("backup", _backup(ops), daily_at=backup_at))
    return out


def run_job(job: Job) -> bool:
    started = time.perf_counter()
    try:
        result = job.run()
    except Exception:  # noqa: BLE001 - a failing job is logged and retried at its next time
        seconds = time.perf_counter() - started
        JOB_RUNS.labels(job.name, "failed").inc()
        JOB_SECONDS.labels(job.name).observe(seconds)
        log.exception("job %s failed after %.2f s", job.name, seconds, extra={"job": job.name, "outcome": "failed"})
        return False
    seconds = time.perf_counter() - started
    JOB_RUNS.labels(job.name, "ok").inc()
    JOB_SECONDS.labels(job.name).observe(seconds)
    JOB_LAST_SUCCESS.labels(job.name).set(time.time())
    log.info("job %s ok in %.2f s: %s", job.name, seconds, result,
             extra={"job": job.name, "outcome": "ok", "seconds": round(seconds, 3)})
    return True


def run_schedule(should_stop: Callable[[], bool], job_list: list[Job] | None = None, *, tick_s: float = 0.5) -> int:
    """Run each job when it is due until ``should_stop()``; returns how many runs there were."""
    job_list = jobs() if job_list is None else job_list
    now = time.time()
    for job in job_list:
        if job.every_s is not None:
            job.next_at = now  # interval jobs once at start
        else:
            job.schedule_next(now)
        log.info("job %s: next at %s", job.name, dt.datetime.fromtimestamp(job.next_at, local_tz()).isoformat(timespec="seconds"))
    runs = 0
    while not should_stop():
        for job in job_list:
            if time.time() >= job.next_at and not should_stop():
                run_job(job)
                runs += 1
                job.schedule_next(time.time())
        time.sleep(tick_s)
    return runs
