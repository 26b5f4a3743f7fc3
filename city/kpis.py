"""The command centre's figures per district, read through the district servers with jurisdiction in SQL.

Each figure is one aggregate over joined foreign tables of one server, which postgres_fdw sends to the
district whole (join and aggregate pushdown): a district returns one row, never its people. Flows of the last
hour come from the districts' per-minute rollups (their Redis live state is theirs alone). Counts only, no
people: not audited, like the wall's KPIs.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer
from city.federated import CityResult, districts_for, now, on_each
from city.servers import District

# {s} is a district's foreign schema (gp_district_<6 digits>, built from a validated code).
_SQL = """
SELECT r.residents, f.entries, f.exits, a.alerts, w.overdue FROM
  (SELECT count(*) AS residents FROM {s}.person p JOIN {s}.dwelling d ON d.id = p.home_dwelling_id
     JOIN {s}.building b ON b.id = d.building_id JOIN {s}.grid g ON g.id = b.grid_id
   WHERE g.code LIKE ANY(:patterns)) r,
  (SELECT coalesce(sum(m.entries), 0) AS entries, coalesce(sum(m.exits), 0) AS exits
   FROM {s}.gate_flow_minute m JOIN {s}.gate gt ON gt.id = m.gate_id
     LEFT JOIN {s}.compound c ON c.id = gt.compound_id LEFT JOIN {s}.key_site k ON k.id = gt.key_site_id
     LEFT JOIN {s}.grid kg ON kg.id = k.grid_id
   WHERE m.minute >= :since AND m.minute < :now AND coalesce(c.community_code, kg.code) LIKE ANY(:patterns)) f,
  (SELECT count(*) AS alerts FROM {s}.alert x JOIN {s}.grid g ON g.id = x.grid_id
   WHERE x.status IN ('open', 'dispatched') AND g.code LIKE ANY(:patterns)) a,
  (SELECT count(*) AS overdue FROM {s}.work_order o JOIN {s}.grid g ON g.id = o.grid_id
   WHERE o.status IN ('assigned', 'in_progress') AND o.due_at < :now AND g.code LIKE ANY(:patterns)) w
"""


@dataclass(frozen=True)
class DistrictKpis:
    district: District
    residents: int        # 实有人口: people whose home dwelling lies in the viewer's part of the district
    entries_hour: int
    exits_hour: int
    open_alerts: int
    overdue_orders: int


def district_kpis(session: Session, viewer: Viewer, *, as_of: dt.datetime | None = None) -> CityResult[DistrictKpis]:
    """Per district the viewer reaches: residents, in/out in the last hour, open alerts, overdue orders."""
    at = as_of or now()
    params = {"patterns": viewer.like_patterns, "now": at, "since": at - dt.timedelta(hours=1)}

    def part(s: Session, d: District) -> DistrictKpis:
        row = s.execute(text(_SQL.format(s=d.schema)), params).one()
        return DistrictKpis(d, int(row.residents), int(row.entries), int(row.exits), int(row.alerts), int(row.overdue))

    targets = districts_for(session, viewer)
    results, down = on_each(session, targets, part)
    return CityResult([results[d.code] for d in targets if d.code in results], tuple(targets), down)


def totals(result: CityResult[DistrictKpis]) -> DistrictKpis | None:
    """The city's row: the sum over the districts that answered (None when none did)."""
    if not result.rows:
        return None
    city = District("city", "合计", "", 0, "")
    return DistrictKpis(city, *(sum(getattr(r, f) for r in result.rows)
                                for f in ("residents", "entries_hour", "exits_hour", "open_alerts", "overdue_orders")))
