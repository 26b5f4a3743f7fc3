"""`gridpulse rules run`: sweep the rules, raise de-duplicated alerts, dispatch work orders.

A sweep is full (every subject of every rule) or incremental (each rule looks only at the subjects
with new evidence since its last sweep, or that one of its time boundaries reached:
analytics/incremental.py). Both raise the same alerts; the incremental one refreshes the evidence of a
live alert only when its subject is looked at again. Sweeps take turns (an advisory lock), and each
records where it left off per rule (``rule_watermark``).
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.alerts import raise_alerts
from analytics.incremental import NOTES, Planner, digest, prune_changes, read_marks, save_mark, snapshot_horizon
from analytics.params import RuleParams, params
from analytics.rules import RULES, VERSIONS
from analytics.work_orders import dispatch, escalate_overdue
from core.errors import InvalidInput

_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('gridpulse.rules_sweep'))")


def run_rules(
    session: Session, as_of: dt.datetime | None = None, *, names: Iterable[str] | None = None,
    rule_params: RuleParams | None = None, incremental: bool = False,
) -> dict[str, object]:
    """Sweep ``names`` (default every rule) as of ``as_of``; ``incremental``: only what changed (each rule
    falls back to a full sweep where analytics/incremental.py says it must, and the report says why)."""
    as_of = as_of or dt.datetime.now(dt.timezone.utc)
    p = rule_params or params()
    chosen = list(names) if names else list(RULES)
    unknown = [n for n in chosen if n not in RULES]
    if unknown:
        raise InvalidInput(f"unknown rules: {', '.join(unknown)}; known: {', '.join(RULES)}", record="--rule")
    report: dict[str, object] = {"as_of": as_of.isoformat(), "sweep": "incremental" if incremental else "full", "rules": {}}
    started = time.perf_counter()
    session.execute(_LOCK)
    horizon = snapshot_horizon(session)  # every change outside it is visible to every query below
    marks = read_marks(session)
    planner = Planner(session, as_of, p)
    for name in chosen:
        t0 = time.perf_counter()
        rule_digest = digest(VERSIONS[name], p)
        scope, mode = planner.scope(name, marks.get(name), rule_digest) if incremental else (None, "full")
        notes: dict | None = {} if name in NOTES and scope is None else None
        findings = RULES[name](session, as_of, p, scope=scope, **({"notes": notes} if notes is not None else {}))
        raised = raise_alerts(session, findings, as_of)
        orders = dispatch(session, raised.new_alert_ids, as_of)
        save_mark(session, name, as_of, horizon, rule_digest, full=scope is None,
                  candidates=(notes or {}).get("candidates"))
        report["rules"][name] = {  # type: ignore[index]
            "mode": mode, "subjects": None if scope is None else scope.size(),
            "findings": len(findings), "new_alerts": len(raised.new_alert_ids), "refreshed": raised.refreshed,
            "suppressed_after_dismissal": raised.suppressed, "work_orders": len(orders),
            "seconds": round(time.perf_counter() - t0, 3),
        }
    prune_changes(session)
    report["escalated"] = escalate_overdue(session, as_of)
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report
