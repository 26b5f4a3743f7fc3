"""访客超时: a visitor who came in on a pass more than 24 hours ago and whose leaving nobody recorded.

"No exit recorded" is a gap in the data, not proof that the visitor is still inside: many leave
through a gate that does not read passes, or walk out behind someone. The alert says so plainly.
Any later passage of the same pass (an exit by any method, or another entry) ends the visit, and so
does a later entry of the same visitor (same ID number) on another pass: an entry implies an earlier
exit. A pass issued without an ID number cannot be followed that way; the alert says that too and
its confidence is lower.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding, ids_of, only, passage_words, rows, when
from blockdata.models import Severity

NAME = "visitor_overstay"
VERSION = "2"


def find(session: Session, as_of: dt.datetime, p: RuleParams, scope=None) -> list[Finding]:  # noqa: ANN001
    passes = ids_of(scope.passes) if scope is not None else None
    result = rows(
        session,
        f"""
        SELECT DISTINCT ON (e.pass_id) e.pass_id, e.event_id, e.ts AS entered, e.compound_id, g.name AS gate,
               v.dwelling_id, v.visitor_name, v.visitor_id_hash IS NOT NULL AS has_id, v.valid_to,
               d.code AS dwelling, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point
        FROM access_event e
        JOIN visitor_pass v ON v.id = e.pass_id
        JOIN dwelling d ON d.id = v.dwelling_id JOIN building b ON b.id = d.building_id
        LEFT JOIN gate g ON g.id = e.gate_id
        WHERE e.direction = 'in' AND e.result = 'open' AND e.pass_id IS NOT NULL{only(passes, 'e.pass_id', 'passes')}
          AND e.ts <= CAST(:as_of AS timestamptz) - make_interval(secs => :overstay_s)
          AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :lookback)
          AND NOT EXISTS (SELECT 1 FROM access_event x WHERE x.pass_id = e.pass_id AND x.result = 'open'
                          AND x.ts > e.ts AND x.ts <= :as_of)
          AND NOT EXISTS (SELECT 1 FROM access_event x JOIN visitor_pass w ON w.id = x.pass_id
                          WHERE v.visitor_id_hash IS NOT NULL AND w.visitor_id_hash = v.visitor_id_hash
                            AND w.id <> v.id AND x.result = 'open' AND x.ts > e.ts AND x.ts <= :as_of)
        ORDER BY e.pass_id, e.ts DESC
        """,
        as_of=as_of, overstay_s=p.overstay_hours * 3600, lookback=p.lookback_days, passes=passes,
    )
    findings = []
    for r in result:
        hours = (as_of - r.entered).total_seconds() / 3600
        says = [f"visitor {r.visitor_name} for {r.dwelling}: {passage_words('in', 'visitor_qr', r.entered, r.gate)}",
                f"no exit recorded for this pass in {hours:.0f} hours (pass valid until {when(r.valid_to)})",
                "not a certainty: the visitor may have left without showing the pass (a gate that does not "
                "read passes, or walking out behind someone)"]
        if not r.has_id:
            says.append("the pass was issued without an ID number: a later visit by the same person cannot be "
                        "recognised, so this is less certain")
        findings.append(Finding(
            rule=NAME, rule_version=VERSION, severity=Severity.low, confidence=0.6 if r.has_id else 0.45,
            subject_kind="dwelling", subject_id=r.dwelling_id, grid_id=r.grid_id, point_wkt=r.point,
            dedup_subject=f"pass:{r.pass_id}",
            evidence={"pass_id": str(r.pass_id), "entered": r.entered.isoformat(), "compound_id": r.compound_id,
                      "events": [str(r.event_id)], "hours_inside": round(hours, 1), "exit_recorded": False,
                      "data_gap": "no exit recorded; the visitor may have left without showing the pass",
                      "pass_has_id_number": r.has_id, "says": says},
        ))
    return findings
