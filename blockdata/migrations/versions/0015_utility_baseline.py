"""utility baseline: each meter series' recent days and usual use, kept as readings land.

水电气 (analytics/rules/utility_anomaly.py) compares a dwelling's last 3 days of a utility with its own
previous 28 days. Computed from the readings on every sweep, that is a month of every dwelling's
readings (36 M rows at 1 M people) read and summarised once a day: 450 s in Python, a scan of the whole
table in SQL. ``utility_baseline`` keeps, per (dwelling, kind), the figures of the series at its latest
reading day: how many recent days, their mean and maximum; how many baseline days, the typical day (the
upper quartile, Python's ``statistics.quantiles`` exclusive method, exactly), the days lived in (at least
a fifth of the typical day), their mean and sample standard deviation; and the latest name on the
utility account in the last 30 days, which 人来登记 compares with the names registered there. Statement triggers on
``utility_reading`` recompute the figures of the series a statement touched (a department's daily file
of a city: one set-based statement); ``gp_utility_baseline_refresh(NULL)`` recomputes every series (the
seed, after its COPY with the trigger off; a check that finds drift). The rule reads the rows for its
day and decides on them exactly in Python; a series whose figures are for a later day (a sweep as of
the past) is computed for the rule's day by ``gp_utility_figures``, the same computation.

The window (3 recent days, 28 baseline days) is RuleParams' default; a rule run with another window
computes from the readings (analytics/rules/utility_anomaly.py, ``MAINTAINED_WINDOW``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 01:40:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

RECENT_DAYS, BASELINE_DAYS = 3, 28
NAME_DAYS = 30  # 人来登记 reads the latest account name of the last 30 days (analytics/rules/arrival_registration.py)
AWAY_DAY_SHARE = 0.2

_DEFINER = "SECURITY DEFINER SET search_path = public, pg_temp"

# The figures of each target series (dwelling, kind) as of its day ``at``: readings from at − (R + B − 1)
# to at; recent = the last R days. The typical day is statistics.quantiles(base, n=4)[2] (method
# 'exclusive') with the same floating-point operations, so "lived in" (≥ 0.2 × typical) is the same set
# of days as Python finds; means and deviations may differ from Python's in the last bits only.
_FIGURES = f"""
CREATE FUNCTION gp_utility_figures(p_dwelling integer[], p_kind utility_kind[], p_at date[],
                                   p_recent integer DEFAULT {RECENT_DAYS}, p_baseline integer DEFAULT {BASELINE_DAYS})
RETURNS TABLE (dwelling_id integer, kind utility_kind, day date, n_recent integer, mean_recent float8,
               max_recent float8, n_base integer, typical float8, n_lived integer, base float8, sd float8,
               named_day date, account_name varchar)
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
  WITH target AS (
    SELECT * FROM unnest(p_dwelling, p_kind, p_at) AS t(dwelling_id, kind, at)
  ), agg AS (
    SELECT t.dwelling_id, t.kind, t.at,
           coalesce(count(*) FILTER (WHERE r.day > t.at - p_recent), 0)::integer AS n_recent,
           avg(r.value::float8) FILTER (WHERE r.day > t.at - p_recent) AS mean_recent,
           max(r.value::float8) FILTER (WHERE r.day > t.at - p_recent) AS max_recent,
           array_agg(r.value::float8 ORDER BY r.value)
             FILTER (WHERE r.day <= t.at - p_recent AND r.day >= t.at - (p_recent + p_baseline - 1)) AS base_sorted,
           max(r.day) FILTER (WHERE r.account_name IS NOT NULL AND r.day > t.at - {NAME_DAYS}) AS named_day,
           (array_agg(r.account_name ORDER BY r.day DESC)
              FILTER (WHERE r.account_name IS NOT NULL AND r.day > t.at - {NAME_DAYS}))[1] AS account_name
    FROM target t
    JOIN utility_reading r ON r.dwelling_id = t.dwelling_id AND r.kind = t.kind
     AND r.day BETWEEN t.at - greatest(p_recent + p_baseline - 1, {NAME_DAYS} - 1) AND t.at
    GROUP BY t.dwelling_id, t.kind, t.at
  ), q AS (
    SELECT a.*, coalesce(cardinality(a.base_sorted), 0) AS n,
           CASE WHEN coalesce(cardinality(a.base_sorted), 0) >= 2
                THEN least(greatest(3 * (cardinality(a.base_sorted) + 1) / 4, 1), cardinality(a.base_sorted) - 1) END AS j
    FROM agg a
  ), typ AS (
    SELECT q.*,
           CASE WHEN q.n = 0 THEN NULL
                WHEN q.n < 4 THEN q.base_sorted[q.n]
                ELSE (q.base_sorted[q.j] * (4 - (3 * (q.n + 1) - 4 * q.j))::float8
                      + q.base_sorted[q.j + 1] * (3 * (q.n + 1) - 4 * q.j)::float8) / 4::float8 END AS typical
    FROM q
  )
  SELECT typ.dwelling_id, typ.kind, typ.at, typ.n_recent, typ.mean_recent, typ.max_recent, typ.n::integer,
         typ.typical, l.n_lived::integer, l.base, l.sd, typ.named_day, typ.account_name
  FROM typ CROSS JOIN LATERAL (
    SELECT count(*) AS n_lived, avg(x) AS base, coalesce(stddev_samp(x), 0) AS sd
    FROM unnest(typ.base_sorted) x WHERE x >= {AWAY_DAY_SHARE}::float8 * typ.typical
  ) l
$$
"""

# Recompute the figures of the given dwellings' series (all of them: NULL) at each series' latest day;
# a series left without readings loses its row.
_REFRESH = f"""
CREATE FUNCTION gp_utility_baseline_refresh(p_dwellings integer[]) RETURNS bigint LANGUAGE plpgsql {_DEFINER} AS $$
DECLARE
  n bigint;
  d integer[]; k utility_kind[]; a date[];
BEGIN
  IF p_dwellings IS NULL THEN
    SELECT array_agg(s.dwelling_id), array_agg(s.kind), array_agg(s.at) INTO d, k, a
    FROM (SELECT r.dwelling_id, r.kind, max(r.day) AS at FROM utility_reading r GROUP BY r.dwelling_id, r.kind) s;
    DELETE FROM utility_baseline b
    WHERE NOT EXISTS (SELECT 1 FROM utility_reading r WHERE r.dwelling_id = b.dwelling_id AND r.kind = b.kind);
  ELSE
    SELECT array_agg(s.dwelling_id), array_agg(s.kind), array_agg(s.at) INTO d, k, a
    FROM (SELECT r.dwelling_id, r.kind, max(r.day) AS at FROM utility_reading r
          WHERE r.dwelling_id = ANY(p_dwellings) GROUP BY r.dwelling_id, r.kind) s;
    DELETE FROM utility_baseline b WHERE b.dwelling_id = ANY(p_dwellings)
      AND NOT EXISTS (SELECT 1 FROM utility_reading r WHERE r.dwelling_id = b.dwelling_id AND r.kind = b.kind);
  END IF;
  IF d IS NULL THEN
    RETURN 0;
  END IF;
  INSERT INTO utility_baseline AS u (dwelling_id, kind, day, n_recent, mean_recent, max_recent, n_base, typical,
                                     n_lived, base, sd, named_day, account_name)
  SELECT f.* FROM gp_utility_figures(d, k, a) f ORDER BY f.dwelling_id, f.kind
  ON CONFLICT (dwelling_id, kind) DO UPDATE SET day = EXCLUDED.day, n_recent = EXCLUDED.n_recent,
    mean_recent = EXCLUDED.mean_recent, max_recent = EXCLUDED.max_recent, n_base = EXCLUDED.n_base,
    typical = EXCLUDED.typical, n_lived = EXCLUDED.n_lived, base = EXCLUDED.base, sd = EXCLUDED.sd,
    named_day = EXCLUDED.named_day, account_name = EXCLUDED.account_name;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF p_dwellings IS NULL THEN
    ANALYZE utility_baseline;  -- a table filled at once: the planner's estimates now, not at autovacuum's turn
  END IF;
  RETURN n;
END $$
"""

_TRIGGER_FN = f"""
CREATE FUNCTION gp_utility_baseline_changed() RETURNS trigger LANGUAGE plpgsql {_DEFINER} AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM utility_baseline;
  ELSIF TG_OP = 'INSERT' THEN
    PERFORM gp_utility_baseline_refresh(ARRAY(SELECT DISTINCT dwelling_id FROM new_rows));
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM gp_utility_baseline_refresh(ARRAY(SELECT dwelling_id FROM new_rows UNION SELECT dwelling_id FROM old_rows));
  ELSE
    PERFORM gp_utility_baseline_refresh(ARRAY(SELECT DISTINCT dwelling_id FROM old_rows));
  END IF;
  RETURN NULL;
END $$
"""

_TRIGGERS = [
    "CREATE TRIGGER utility_baseline_ins AFTER INSERT ON utility_reading REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gp_utility_baseline_changed()",
    "CREATE TRIGGER utility_baseline_upd AFTER UPDATE ON utility_reading REFERENCING OLD TABLE AS old_rows "
    "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gp_utility_baseline_changed()",
    "CREATE TRIGGER utility_baseline_del AFTER DELETE ON utility_reading REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gp_utility_baseline_changed()",
    "CREATE TRIGGER utility_baseline_trunc AFTER TRUNCATE ON utility_reading "
    "FOR EACH STATEMENT EXECUTE FUNCTION gp_utility_baseline_changed()",
]
TRIGGER_NAMES = ("utility_baseline_ins", "utility_baseline_upd", "utility_baseline_del", "utility_baseline_trunc")


def upgrade() -> None:
    op.create_table('utility_baseline',
    sa.Column('dwelling_id', sa.Integer(), nullable=False),
    sa.Column('kind', postgresql.ENUM(name='utility_kind', create_type=False), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('n_recent', sa.Integer(), nullable=False),
    sa.Column('mean_recent', sa.Float(), nullable=True),
    sa.Column('max_recent', sa.Float(), nullable=True),
    sa.Column('n_base', sa.Integer(), nullable=False),
    sa.Column('typical', sa.Float(), nullable=True),
    sa.Column('n_lived', sa.Integer(), nullable=False),
    sa.Column('base', sa.Float(), nullable=True),
    sa.Column('sd', sa.Float(), nullable=True),
    sa.Column('named_day', sa.Date(), nullable=True),
    sa.Column('account_name', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['dwelling_id'], ['dwelling.id'], name=op.f('fk_utility_baseline_dwelling_id_dwelling'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dwelling_id', 'kind', name=op.f('pk_utility_baseline'))
    )
    op.create_index('ix_utility_baseline_day', 'utility_baseline', ['day'], unique=False)
    op.create_index('ix_utility_baseline_named_day', 'utility_baseline', ['named_day'], unique=False,
                    postgresql_where=sa.text('account_name IS NOT NULL'))
    op.execute(_FIGURES)
    op.execute(_REFRESH)
    op.execute(_TRIGGER_FN)
    for statement in _TRIGGERS:
        op.execute(statement)
    op.execute("SELECT gp_utility_baseline_refresh(NULL)")
    op.execute("""DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridpulse_rules') THEN
        GRANT SELECT ON utility_baseline TO gridpulse_rules;
      END IF;
    END $$""")


def downgrade() -> None:
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON utility_reading")
    op.execute("DROP FUNCTION IF EXISTS gp_utility_baseline_changed()")
    op.execute("DROP FUNCTION IF EXISTS gp_utility_baseline_refresh(integer[])")
    op.execute("DROP FUNCTION IF EXISTS gp_utility_figures(integer[], utility_kind[], date[], integer, integer)")
    op.drop_table('utility_baseline')
