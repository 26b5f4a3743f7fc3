"""city live population: what a district shows the city of its real-time population (实时人口) —
``city_community_live``, per community: residents inside now and visitors inside now, from the counters the
district keeps as events land (migration 0013), less what aged past a boundary since the last expiry — the
same figure as analytics/population.py's ``live_population``, summed per community.

Why a view of its own beside ``city_community_figures`` (0012): the maintained counters are read in
milliseconds, the figures view counts residents from the person table; and the city reads it through
postgres_fdw with the jurisdiction filter (``community_code LIKE ANY``, built-in) and the sum sent down, so a
district answers with one row. ``now()`` is the district's own clock, evaluated at the district.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 02:00:00
"""
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_LIVE = """
CREATE VIEW city_community_live AS
WITH aged_away AS (
  SELECT d.building_id, count(*) AS n
  FROM presence_person pp JOIN person p ON p.id = pp.person_id JOIN dwelling d ON d.id = p.home_dwelling_id
  WHERE pp.is_out AND pp.last_ts <= now() - gp_population_away() GROUP BY 1
), aged_visit AS (
  SELECT d.building_id, count(*) AS n
  FROM presence_pass x JOIN visitor_pass v ON v.id = x.pass_id JOIN dwelling d ON d.id = v.dwelling_id
  WHERE x.last_in <= now() - gp_population_visit() AND gp_visit_inside(x.last_in, x.last_out) GROUP BY 1
)
SELECT g.community_code::text AS community_code,
       sum(l.residents - l.away + coalesce(aa.n, 0))::bigint AS inside,
       sum(l.visitors - coalesce(av.n, 0))::bigint AS visitors
FROM population_live l JOIN building b ON b.id = l.building_id JOIN grid g ON g.id = b.grid_id
LEFT JOIN aged_away aa ON aa.building_id = l.building_id LEFT JOIN aged_visit av ON av.building_id = l.building_id
GROUP BY g.community_code
"""


# A district attached before this migration: whoever may read the figures view (the city's role, granted by
# `gridpulse city grant-reader` under whatever name GRIDPULSE_DISTRICT_USER gives it) may read this one too.
_GRANT_LIKE_FIGURES = """
DO $$
DECLARE r regrole;
BEGIN
  FOR r IN SELECT DISTINCT a.grantee::regrole FROM pg_class c, aclexplode(c.relacl) a
           WHERE c.oid = 'city_community_figures'::regclass AND a.privilege_type = 'SELECT'
             AND a.grantee <> 0 AND a.grantee <> c.relowner LOOP
    EXECUTE format('GRANT SELECT ON city_community_live TO %s', r);
  END LOOP;
END $$
"""


def upgrade() -> None:
    op.execute(_LIVE)
    op.execute(_GRANT_LIKE_FIGURES)
    op.execute("COMMENT ON VIEW city_community_live IS 'read by the city through postgres_fdw (city/kpis.py)'")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS city_community_live")
