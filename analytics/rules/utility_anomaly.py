"""水电气: a dwelling's recent use against its own baseline — spike, drop, or zero use while occupied."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding, rows
from blockdata.models import Severity

NAME = "utility_anomaly"


def find(session: Session, as_of: dt.datetime, p: RuleParams) -> list[Finding]:
    result = rows(
        session,
        """
        WITH w AS (
          SELECT u.dwelling_id, u.kind::text AS kind,
                 avg(u.value) FILTER (WHERE u.day > :today - :recent) AS recent,
                 max(u.value) FILTER (WHERE u.day > :today - :recent) AS recent_max,
                 count(*) FILTER (WHERE u.day > :today - :recent) AS n_recent,
                 avg(u.value) FILTER (WHERE u.day <= :today - :recent) AS base,
                 stddev_samp(u.value) FILTER (WHERE u.day <= :today - :recent) AS sd,
                 count(*) FILTER (WHERE u.day <= :today - :recent) AS n_base
          FROM utility_reading u
          WHERE u.day <= :today AND u.day > :today - (:recent + :baseline)
          GROUP BY u.dwelling_id, u.kind
        )
        SELECT w.*, EXISTS (SELECT 1 FROM person p WHERE p.home_dwelling_id = w.dwelling_id) AS occupied,
               b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point
        FROM w JOIN dwelling d ON d.id = w.dwelling_id JOIN building b ON b.id = d.building_id
        WHERE w.n_recent >= :recent AND w.n_base >= :baseline / 2 AND w.base > 0
        """,
        today=as_of.date(), recent=p.utility_recent_days, baseline=p.utility_baseline_days,
    )
    findings = []
    for r in result:
        sd = r.sd or 0.0
        if r.recent_max == 0 and r.occupied:
            kind, severity = "zero_use_occupied", Severity.medium
        elif r.recent > r.base * p.utility_spike_ratio and r.recent > r.base + p.utility_spike_sigmas * sd:
            kind, severity = "spike", Severity.medium
        elif r.recent < r.base * p.utility_drop_ratio:
            kind, severity = "drop", Severity.low
        else:
            continue
        ratio = r.recent / r.base
        findings.append(
            Finding(
                rule=NAME, severity=severity,
                confidence=round(min(0.95, 0.6 + (0.1 * min(ratio, 5) if kind == "spike" else 0.3 * (1 - ratio))), 2),
                subject_kind="dwelling", subject_id=r.dwelling_id, grid_id=r.grid_id, point_wkt=r.point,
                dedup_subject=f"{r.dwelling_id}:{r.kind}",
                evidence={"anomaly": kind, "utility": r.kind, "recent_mean": round(r.recent, 2),
                          "baseline_mean": round(r.base, 2), "baseline_sd": round(sd, 2), "ratio": round(ratio, 2),
                          "occupied": r.occupied},
            )
        )
    return findings
