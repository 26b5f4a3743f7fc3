"""The command centre's figures per district, read through the district servers with jurisdiction in SQL.

A district keeps its figures per community in the view ``city_community_figures`` (migration 0012): residents
with a home there, in/out of the last hour from its per-minute rollups (its Redis live state is its own), open
alerts, overdue work orders; and its real-time population per community in ``city_community_live`` (migration
0016): the people inside now — residents whose last passage is not an exit, and visitors inside — from the
counters it keeps as events land (analytics/population.py's method, the district's clock). The city sums the
communities inside the viewer's jurisdiction; postgres_fdw sends each sum to the district (aggregate pushdown),
which answers with one row per view — never its people. Jurisdiction is by community code, so a city, district,
street or community account gets exactly its part. Counts only, no people: not audited, like the wall's KPIs.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.viewer import Viewer
from city.federated import CityResult, districts_for, on_each
from city.servers import District

# {s} is a district's foreign schema (gp_district_<6 digits>, built from a validated code). Per view one foreign
# table, a built-in filter and plain sums: postgres_fdw sends each subquery whole, the district answers with one
# row for each (two remote queries on the part's one connection).
_SQL = """
SELECT f.*, l.realtime FROM
  (SELECT coalesce(sum(residents), 0) AS residents, coalesce(sum(entries_hour), 0) AS entries,
          coalesce(sum(exits_hour), 0) AS exits, coalesce(sum(open_alerts), 0) AS alerts,
          coalesce(sum(overdue_orders), 0) AS overdue
   FROM {s}.city_community_figures WHERE community_code LIKE ANY(:patterns)) f,
  (SELECT coalesce(sum(inside + visitors), 0) AS realtime
   FROM {s}.city_community_live WHERE community_code LIKE ANY(:patterns)) l
"""


@dataclass(frozen=True)
class DistrictKpis:
    district: District
    residents: int        # 实有人口: people whose home dwelling lies in the viewer's part of the district
    realtime: int         # 实时人口: people inside now (residents not out, visitors in), the district's counters
    entries_hour: int
    exits_hour: int
    open_alerts: int
    overdue_orders: int


def district_kpis(session: Session, viewer: Viewer) -> CityResult[DistrictKpis]:
    """Per district the viewer reaches: residents, the real-time population, in/out in the last hour (the
    district's clock), open alerts, overdue orders."""
    params = {"patterns": viewer.like_patterns}

    def part(s: Session, d: District) -> DistrictKpis:
        row = s.execute(text(_SQL.format(s=d.schema)), params).one()
        return DistrictKpis(d, int(row.residents), int(row.realtime), int(row.entries), int(row.exits), int(row.alerts),
                            int(row.overdue))

    targets = districts_for(session, viewer)
    results, down = on_each(session, targets, part)
    return CityResult([results[d.code] for d in targets if d.code in results], tuple(targets), down)


def totals(result: CityResult[DistrictKpis]) -> DistrictKpis | None:
    """The city's row: the sum over the districts that answered (None when none did)."""
    if not result.rows:
        return None
    city = District("city", "合计", "", 0, "")
    return DistrictKpis(city, **{f.name: sum(getattr(r, f.name) for r in result.rows)
                                 for f in fields(DistrictKpis) if f.name != "district"})
