"""`gridpulse rules watch`: run the fast rules as events arrive, woken by ingest's landed notices.

The fast rules are the ones whose evidence is the newest events (a crowd at a key site, a
supervised person moving at night, a visitor who has not left): they run within seconds of the
data, at most once per ``min_interval_s`` however fast notices come. The slow sweep (`rules run`)
covers every rule on a schedule (`--full-sweep-every`, or cron).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from analytics.params import params
from analytics.sweep import run_rules
from core.config import Settings, settings
from core.events import landed_key
from core.redis_client import connect
from blockdata.db import transaction

FAST_RULES = ("keysite_surge", "correction_movement", "visitor_overstay")
log = logging.getLogger("gridpulse.rules.watch")


def watch(should_stop: Callable[[], bool] = lambda: False, *, cfg: Settings | None = None,
          min_interval_s: float = 5.0, idle_exit_s: float | None = None, full_sweep_every_s: float | None = None) -> int:
    """Returns how many sweeps ran. With ``full_sweep_every_s``, every rule is also swept on that schedule."""
    cfg = cfg or settings()
    client = connect(cfg)
    key = landed_key(cfg.redis_prefix)
    last_id = "$"
    sweeps, last_sweep, idle_since = 0, 0.0, time.monotonic()
    last_full = time.monotonic()
    while not should_stop():
        if full_sweep_every_s and time.monotonic() - last_full >= full_sweep_every_s:
            with transaction() as session:
                report = run_rules(session, dt.datetime.now(dt.timezone.utc), rule_params=params())
            last_full = time.monotonic()
            sweeps += 1
            log.info("full sweep: %s", {k: v["new_alerts"] for k, v in report["rules"].items()})
        reply = client.xread({key: last_id}, count=1000, block=1000)
        if not reply:
            if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                break
            continue
        idle_since = time.monotonic()
        last_id = reply[0][1][-1][0]
        wait = min_interval_s - (time.monotonic() - last_sweep)
        if wait > 0:
            time.sleep(wait)
        with transaction() as session:
            report = run_rules(session, dt.datetime.now(dt.timezone.utc), names=FAST_RULES, rule_params=params())
        sweeps += 1
        last_sweep = time.monotonic()
        log.info("fast rules: %s", {k: v["new_alerts"] for k, v in report["rules"].items()})
    return sweeps
