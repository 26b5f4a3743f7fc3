"""city federation: what a district server shows the city through postgres_fdw (city/, docs/SCALING.md) —
``city_community_figures`` (per community: residents, in/out of the last hour, open alerts, overdue orders) and
``city_passage`` (open passages of known people with their gate, compound and community), both in built-in
types only.

Why views: postgres_fdw sends a join or a filter to the remote server only when every operator and type in it is
built-in, and the schema's enums (status, direction, result) are not — a filter on one of them made the city
fetch whole tables and join them itself. Behind these views the district does the joins, the enum filters and
the grouping; the city's filters (community code LIKE ANY, person, time, gate) are built-in and go down too.
``t`` is the passage's time in epoch seconds: "within ±2 minutes of" on it is float arithmetic, which is
immutable and so shippable, where timestamptz ± interval is only stable and would keep the join at the city.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:00:00
"""
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_FIGURES = """
CREATE VIEW city_community_figures AS
SELECT r.code::text AS community_code,
       coalesce(res.n, 0)::bigint AS residents,
       coalesce(fl.entries, 0)::bigint AS entries_hour, coalesce(fl.exits, 0)::bigint AS exits_hour,
       coalesce(al.n, 0)::bigint AS open_alerts, coalesce(wo.n, 0)::bigint AS overdue_orders
FROM region r
LEFT JOIN (SELECT g.community_code, count(*) AS n FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id
           JOIN building b ON b.id = d.building_id JOIN grid g ON g.id = b.grid_id GROUP BY 1) res
       ON res.community_code = r.code
LEFT JOIN (SELECT coalesce(c.community_code, kg.community_code) AS community_code, sum(m.entries) AS entries,
                  sum(m.exits) AS exits
           FROM gate_flow_minute m JOIN gate gt ON gt.id = m.gate_id
           LEFT JOIN compound c ON c.id = gt.compound_id LEFT JOIN key_site k ON k.id = gt.key_site_id
           LEFT JOIN grid kg ON kg.id = k.grid_id
           WHERE m.minute >= now() - interval '1 hour' AND m.minute < now() GROUP BY 1) fl
       ON fl.community_code = r.code
LEFT JOIN (SELECT g.community_code, count(*) AS n FROM alert a JOIN grid g ON g.id = a.grid_id
           WHERE a.status IN ('open', 'dispatched') GROUP BY 1) al ON al.community_code = r.code
LEFT JOIN (SELECT g.community_code, count(*) AS n FROM work_order w JOIN grid g ON g.id = w.grid_id
           WHERE w.status IN ('assigned', 'in_progress') AND w.due_at < now() GROUP BY 1) wo ON wo.community_code = r.code
WHERE r.level = 'community'
"""

_PASSAGE = """
CREATE VIEW city_passage AS
SELECT e.ts, extract(epoch FROM e.ts)::float8 AS t, e.gate_id, gt.code::text AS gate_code, e.compound_id, c.code::text AS compound_code,
       c.name::text AS compound_name, coalesce(c.community_code, kg.community_code)::text AS community_code,
       e.direction::text AS direction, e.person_id
FROM access_event e JOIN gate gt ON gt.id = e.gate_id
LEFT JOIN compound c ON c.id = gt.compound_id LEFT JOIN key_site k ON k.id = gt.key_site_id
LEFT JOIN grid kg ON kg.id = k.grid_id
WHERE e.result = 'open' AND e.person_id IS NOT NULL
"""


def upgrade() -> None:
    op.execute(_FIGURES)
    op.execute(_PASSAGE)
    op.execute("COMMENT ON VIEW city_community_figures IS 'read by the city through postgres_fdw (city/kpis.py)'")
    op.execute("COMMENT ON VIEW city_passage IS 'read by the city through postgres_fdw (city/police.py)'")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS city_passage")
    op.execute("DROP VIEW IF EXISTS city_community_figures")
