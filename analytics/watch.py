"""`gridpulse rules watch`: incremental sweeps of every rule as events land, a full sweep now and then,
and the day's statistics kept fresh.

Woken by ingest's landed notices, it sweeps incrementally (analytics/incremental.py: each rule looks
only at the subjects with new evidence, or reached by one of its time boundaries) at most once per
``min_interval_s``, and at least every ``tick_s`` without notices too, since time alone fires rules (a
last exit turning 3 days old). Every ``full_sweep_every_s`` it sweeps fully instead (a safety net: the
two give the same alerts, tests/analytics/test_incremental_sweep.py proves it on a sequence of days).
After a sweep it refreshes the daily statistics (analytics/stats_refresh.py) for the days that can
still change, at most every ``stats_every_s`` while something changed and at the first sweep of a new
local day, so the 统计 page and the weekly report find them current. With ``metrics_port`` it serves
``/metrics`` (sweep time per rule, alerts raised, last success, errors: analytics/metrics.py) and
``/healthz``.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from analytics import metrics
from analytics.params import params
from analytics.stats_refresh import local_day, refresh
from analytics.sweep import run_rules
from blockdata.db import transaction
from core.config import Settings, settings
from core.events import landed_key
from core.redis_client import connect

log = logging.getLogger("gridpulse.rules.watch")


class _Stats:
    """When to refresh the daily statistics: something changed and the last refresh is old, or a new day.
    The refresh runs beside the sweeps (a thread of its own), so a slow one never delays an alert."""

    def __init__(self, every_s: float | None) -> None:
        self.every_s, self.last, self.day, self.dirty = every_s, float("-inf"), None, True
        self.running: threading.Thread | None = None

    def after_sweep(self, now: dt.datetime, changed: bool) -> None:
        if self.every_s is None:
            return
        self.dirty = self.dirty or changed
        new_day = self.day is not None and local_day(now) != self.day
        if self.running is not None and self.running.is_alive():
            return
        if not new_day and not (self.dirty and time.monotonic() - self.last >= self.every_s):
            return
        self.last, self.day, self.dirty = time.monotonic(), local_day(now), False
        self.running = threading.Thread(target=self._refresh, args=(now,), name="stats-refresh", daemon=True)
        self.running.start()

    def _refresh(self, now: dt.datetime) -> None:
        try:
            with transaction() as session:
                report = refresh(session, now)
        except Exception:  # noqa: BLE001 - a long-running service counts and logs a failed refresh, and goes on
            log.exception("statistics refresh failed")
            metrics.SWEEP_ERRORS.labels("stats_refresh").inc()
            self.dirty = True
            return
        metrics.SWEEP_LAST_SUCCESS.labels("stats_refresh").set(time.time())
        log.info("statistics refreshed: %s", report)


def sweep_once(full: bool, now: dt.datetime | None = None) -> dict | None:
    """One sweep, counted in the metrics; a failure is logged and counted, never raised (the watch goes on)."""
    kind = "full" if full else "incremental"
    try:
        with transaction() as session:
            report = run_rules(session, now or dt.datetime.now(dt.timezone.utc), rule_params=params(), incremental=not full)
    except Exception:  # noqa: BLE001 - the database may be restarting; the next sweep catches up from the watermark
        log.exception("%s sweep failed", kind)
        metrics.SWEEP_ERRORS.labels(kind).inc()
        return None
    metrics.observe_sweep(report, kind)
    log.info("%s sweep in %.2f s: %s", kind, report["seconds"],
             {k: (v["mode"].split(":")[0], v["subjects"], v["new_alerts"]) for k, v in report["rules"].items()})  # type: ignore[union-attr]
    return report


def watch(should_stop: Callable[[], bool] = lambda: False, *, cfg: Settings | None = None,
          min_interval_s: float = 5.0, idle_exit_s: float | None = None, full_sweep_every_s: float | None = None,
          tick_s: float = 60.0, stats_every_s: float | None = 300.0, metrics_port: int | None = None) -> int:
    """Returns how many sweeps ran. The first sweep runs at once (catching up from the watermarks)."""
    cfg = cfg or settings()
    if metrics_port is not None:
        from core.health import default_probes
        from core.probe_server import serve_probes

        serve_probes(metrics_port, default_probes())
    client = connect(cfg)
    key = landed_key(cfg.redis_prefix)
    # From the notices already there, not "$": those landing during the first sweep wake the next one.
    newest = client.xrevrange(key, count=1)
    last_id = newest[0][0] if newest else "0-0"
    stats = _Stats(stats_every_s)
    sweeps, pending, landed = 0, True, False
    last_sweep, last_full, idle_since = float("-inf"), time.monotonic(), time.monotonic()
    while not should_stop():
        now_m = time.monotonic()
        full = bool(full_sweep_every_s) and now_m - last_full >= full_sweep_every_s  # type: ignore[operator]
        due = pending or now_m - last_sweep >= tick_s
        if full or (due and now_m - last_sweep >= min_interval_s):
            now = dt.datetime.now(dt.timezone.utc)
            report = sweep_once(full, now)
            sweeps += 1
            last_sweep = time.monotonic()
            if full:
                last_full = last_sweep
            if report is not None:
                pending = False
                raised = any(v["new_alerts"] for v in report["rules"].values())  # type: ignore[union-attr]
                stats.after_sweep(now, landed or raised)
                landed = False
        wait_s = max(0.05, min(1.0, min_interval_s - (time.monotonic() - last_sweep))) if pending else 1.0
        reply = client.xread({key: last_id}, count=1000, block=int(wait_s * 1000))
        if not reply:
            if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                break
            continue
        idle_since = time.monotonic()
        last_id = reply[0][1][-1][0]
        pending = landed = True
    if stats.running is not None:  # a stopped watch leaves nothing running behind it
        stats.running.join(timeout=120)
    return sweeps
