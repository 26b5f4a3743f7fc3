"""`gridpulse rules run`: sweep every rule, raise de-duplicated alerts, dispatch work orders."""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable

from sqlalchemy.orm import Session

from analytics.alerts import raise_alerts
from analytics.params import RuleParams, params
from analytics.rules import RULES
from analytics.work_orders import dispatch, escalate_overdue


def run_rules(
    session: Session, as_of: dt.datetime | None = None, *, names: Iterable[str] | None = None,
    rule_params: RuleParams | None = None,
) -> dict[str, object]:
    as_of = as_of or dt.datetime.now(dt.timezone.utc)
    p = rule_params or params()
    chosen = list(names) if names else list(RULES)
    unknown = [n for n in chosen if n not in RULES]
    if unknown:
        raise ValueError(f"unknown rules: {', '.join(unknown)}; known: {', '.join(RULES)}")
    report: dict[str, object] = {"as_of": as_of.isoformat(), "rules": {}}
    started = time.perf_counter()
    for name in chosen:
        t0 = time.perf_counter()
        findings = RULES[name](session, as_of, p)
        raised = raise_alerts(session, findings, as_of)
        orders = dispatch(session, raised.new_alert_ids, as_of)
        report["rules"][name] = {  # type: ignore[index]
            "findings": len(findings), "new_alerts": len(raised.new_alert_ids), "refreshed": raised.refreshed,
            "suppressed_after_dismissal": raised.suppressed, "work_orders": len(orders),
            "seconds": round(time.perf_counter() - t0, 3),
        }
    report["escalated"] = escalate_overdue(session, as_of)
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report
