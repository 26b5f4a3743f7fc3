"""重点场所: people flow at a key site in the last hour against the usual flow for that hour of the week.

The usual flow is the mean over the same local hour of the previous weeks in which the site's
counters were really counting. Flow rollups hold only minutes with passages, so an hour without rows
may be "nobody passed" or "the counter was off": a comparison week counts only when the site's
counters sent data that local day and no recorded outage (``counter_outage``) touches the hour.
A counter that is new, or was off in the comparison weeks, gives no surge until it has a usable
baseline (at least ``surge_min_weeks`` comparison weeks with data); missing data is never read as
"nobody passed".
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding, local, rows, when
from blockdata.models import Severity
from core.config import local_tz

NAME = "keysite_surge"
VERSION = "2"


class _Week:
    """One site's flow in one window, summed over its counters; which counters sent data that day."""

    def __init__(self) -> None:
        self.n, self.counting, self.outage, self.busiest = 0, set(), False, []

    def add(self, r) -> None:  # noqa: ANN001 - a result row
        self.n += r.n
        if r.day_rows:
            self.counting.add(r.gate_id)
        self.outage = self.outage or bool(r.outage)
        self.busiest += list(r.busiest or [])


def _windows(as_of: dt.datetime, weeks: int) -> list[tuple[int, dt.datetime, dt.datetime, dt.datetime]]:
    """(week, hour start, hour end, local day start) for now (week 0) and each comparison week."""
    out = []
    for w in range(weeks + 1):
        end = (local(as_of) - dt.timedelta(weeks=w)).astimezone(dt.timezone.utc)
        start = end - dt.timedelta(hours=1)
        # The local day the hour belongs to (the hour to midnight is the day before's last hour).
        day = dt.datetime.combine(local(start).date(), dt.time(), tzinfo=local_tz()).astimezone(dt.timezone.utc)
        out.append((w, start, end, day))
    return out


def find(session: Session, as_of: dt.datetime, p: RuleParams, scope=None) -> list[Finding]:  # noqa: ANN001, ARG001
    """Always every key site (they are few): ``scope`` is accepted and not used (analytics/incremental.py)."""
    windows = _windows(as_of, p.surge_weeks)
    result = rows(
        session,
        """
        WITH win AS (
          SELECT * FROM unnest(CAST(:weeks AS int[]), CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),
                               CAST(:days AS timestamptz[])) AS w(week, hour_start, hour_end, day_start)
        ), site_gate AS (
          SELECT g.id AS gate_id, g.key_site_id FROM gate g WHERE g.key_site_id IS NOT NULL
        )
        SELECT sg.key_site_id, sg.gate_id, w.week,
               coalesce(sum(f.entries + f.exits) FILTER (WHERE f.minute > w.hour_start AND f.minute <= w.hour_end), 0) AS n,
               count(f.minute) AS day_rows,
               bool_or(EXISTS (SELECT 1 FROM counter_outage o WHERE o.gate_id = sg.gate_id AND o.starts_at < w.hour_end
                                 AND (o.ends_at IS NULL OR o.ends_at > w.hour_start))) AS outage,
               (array_agg(f.minute ORDER BY f.entries + f.exits DESC)
                  FILTER (WHERE f.minute > w.hour_start AND f.minute <= w.hour_end))[1:3] AS busiest
        FROM site_gate sg CROSS JOIN win w
        LEFT JOIN gate_flow_minute f ON f.gate_id = sg.gate_id AND f.minute >= w.day_start
             AND f.minute < w.day_start + interval '24 hours' AND f.minute <= :as_of
        GROUP BY sg.key_site_id, sg.gate_id, w.week
        """,
        weeks=[w[0] for w in windows], starts=[w[1] for w in windows], ends=[w[2] for w in windows],
        days=[w[3] for w in windows], as_of=as_of,
    )
    by_site: dict[int, dict[int, _Week]] = {}
    for r in result:
        by_site.setdefault(r.key_site_id, {}).setdefault(r.week, _Week()).add(r)
    sites = {r.id: r for r in rows(session, "SELECT id, name, category::text AS category, grid_id, "
                                            "ST_AsText(ST_PointOnSurface(geom)) AS point FROM key_site")}
    findings = []
    for site_id, weeks in by_site.items():
        now = weeks.get(0)
        if now is None or not now.n or site_id not in sites:
            continue
        # A week compares only if every counter counting today also counted that day, with no outage:
        # a counter added since, or one that was off, would make the usual too small.
        usable = {w: r for w, r in weeks.items() if w > 0 and now.counting <= r.counting and not r.outage}
        if len(usable) < p.surge_min_weeks:
            continue  # no usable baseline: a new counter, or one that was off in the comparison weeks
        usual = sum(r.n for r in usable.values()) / len(usable)
        if now.n < max(p.surge_ratio * usual, usual + p.surge_min_excess):
            continue
        ratio = now.n / max(usual, 1.0)
        site = sites[site_id]
        compared = [{"week": w, "hour_end": windows[w][2].isoformat(), "flow": int(r.n),
                     "usable": w in usable, "why_not": None if w in usable else
                     ("counter outage recorded" if r.outage else "no data from every counter that day")}
                    for w, r in sorted(weeks.items()) if w > 0]
        says = [f"{site.name}: {int(now.n)} passages in the hour to {when(as_of)}",
                f"usually {usual:.0f} in that hour (mean of {len(usable)} earlier weeks: "
                + ", ".join(f"{c['flow']} on {when(windows[c['week']][2])}" for c in compared if c["usable"]) + ")"]
        says += [f"week of {when(windows[c['week']][2])} left out: {c['why_not']}" for c in compared if not c["usable"]]
        findings.append(Finding(
            rule=NAME, rule_version=VERSION, severity=Severity.critical if ratio >= 2 * p.surge_ratio else Severity.high,
            confidence=round(min(0.95, 0.5 + 0.1 * ratio), 2),
            subject_kind="key_site", subject_id=site_id, grid_id=site.grid_id, point_wkt=site.point,
            evidence={"site": site.name, "category": site.category, "last_hour": int(now.n),
                      "usual_same_hour": round(usual, 1), "ratio": round(ratio, 2), "weeks_compared": len(usable),
                      "comparison": compared, "window_end": as_of.isoformat(),
                      "busiest_minutes": [m.isoformat() for m in (now.busiest or [])], "says": says},
        ))
    return findings
