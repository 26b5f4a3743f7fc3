"""daily statistics: the aggregates the indicator set (docs/INDICATORS.md) reads instead of the event table —
gate_flow_hour (kept by statement triggers on gate_flow_minute, so it follows every ingest batch and
seed), place_stat_day (one value per day, grid or compound, and indicator, refreshed incrementally by
analytics/indicators.py) and stat_refresh (which days were refreshed, when)

Revision ID: 0011
Revises: 0004
Create Date: 2026-12-06 19:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# The hour of a minute in UTC, whatever the session's time zone (every zone the product serves is a whole
# number of hours from UTC, so a UTC hour is also a local hour).
_HOUR = "date_trunc('hour', {m} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"

# Each statement on gate_flow_minute adds its change to the hours it touched: new rows count +, old rows -.
_APPLY = f"""
CREATE FUNCTION gate_flow_hour_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO gate_flow_hour AS h (gate_id, hour, entries, exits, denied)
    SELECT gate_id, {_HOUR.format(m='minute')}, sum(entries), sum(exits), sum(denied) FROM new_rows GROUP BY 1, 2
    ON CONFLICT (gate_id, hour) DO UPDATE SET entries = h.entries + EXCLUDED.entries,
      exits = h.exits + EXCLUDED.exits, denied = h.denied + EXCLUDED.denied;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO gate_flow_hour AS h (gate_id, hour, entries, exits, denied)
    SELECT gate_id, hr, sum(e), sum(x), sum(d) FROM (
      SELECT gate_id, {_HOUR.format(m='minute')} AS hr, entries AS e, exits AS x, denied AS d FROM new_rows
      UNION ALL
      SELECT gate_id, {_HOUR.format(m='minute')}, -entries, -exits, -denied FROM old_rows) c GROUP BY 1, 2
    ON CONFLICT (gate_id, hour) DO UPDATE SET entries = h.entries + EXCLUDED.entries,
      exits = h.exits + EXCLUDED.exits, denied = h.denied + EXCLUDED.denied;
  ELSE
    UPDATE gate_flow_hour h SET entries = h.entries - o.e, exits = h.exits - o.x, denied = h.denied - o.d
    FROM (SELECT gate_id, {_HOUR.format(m='minute')} AS hr, sum(entries) AS e, sum(exits) AS x, sum(denied) AS d
          FROM old_rows GROUP BY 1, 2) o
    WHERE h.gate_id = o.gate_id AND h.hour = o.hr;
  END IF;
  RETURN NULL;
END $$;
"""
_TRIGGERS = [
    "CREATE TRIGGER gate_flow_hour_ins AFTER INSERT ON gate_flow_minute REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gate_flow_hour_apply()",
    "CREATE TRIGGER gate_flow_hour_upd AFTER UPDATE ON gate_flow_minute REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gate_flow_hour_apply()",
    "CREATE TRIGGER gate_flow_hour_del AFTER DELETE ON gate_flow_minute REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gate_flow_hour_apply()",
    # TRUNCATE fires no row or transition trigger: empty the hours with it (DELETE: a TRUNCATE … CASCADE
    # from the gates has already truncated them in the same statement, and may not truncate them twice).
    "CREATE FUNCTION gate_flow_hour_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN DELETE FROM gate_flow_hour; RETURN NULL; END $$",
    "CREATE TRIGGER gate_flow_hour_trunc AFTER TRUNCATE ON gate_flow_minute "
    "FOR EACH STATEMENT EXECUTE FUNCTION gate_flow_hour_truncate()",
]


def upgrade() -> None:
    op.create_table('gate_flow_hour',
    sa.Column('gate_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entries', sa.Integer(), server_default='0', nullable=False),
    sa.Column('exits', sa.Integer(), server_default='0', nullable=False),
    sa.Column('denied', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint('entries >= 0 AND exits >= 0 AND denied >= 0', name=op.f('ck_gate_flow_hour_counts_non_negative')),
    sa.ForeignKeyConstraint(['gate_id'], ['gate.id'], name=op.f('fk_gate_flow_hour_gate_id_gate'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('gate_id', 'hour', name=op.f('pk_gate_flow_hour'))
    )
    op.create_index('ix_gate_flow_hour_hour', 'gate_flow_hour', ['hour'], unique=False)
    op.create_table('place_stat_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('unit_kind', sa.String(length=8), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('indicator', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.CheckConstraint("unit_kind IN ('grid', 'compound')", name=op.f('ck_place_stat_day_unit_kind_values')),
    sa.PrimaryKeyConstraint('day', 'unit_kind', 'unit_id', 'indicator', name=op.f('pk_place_stat_day'))
    )
    op.create_table('stat_refresh',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('snapshot', sa.Boolean(), server_default='false', nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_stat_refresh'))
    )
    op.execute(_APPLY)
    for statement in _TRIGGERS:
        op.execute(statement)
    op.execute(f"INSERT INTO gate_flow_hour (gate_id, hour, entries, exits, denied) "
               f"SELECT gate_id, {_HOUR.format(m='minute')}, sum(entries), sum(exits), sum(denied) "
               f"FROM gate_flow_minute GROUP BY 1, 2")


def downgrade() -> None:
    for trigger in ('gate_flow_hour_trunc', 'gate_flow_hour_del', 'gate_flow_hour_upd', 'gate_flow_hour_ins'):
        op.execute(f'DROP TRIGGER IF EXISTS {trigger} ON gate_flow_minute')
    op.execute('DROP FUNCTION IF EXISTS gate_flow_hour_truncate()')
    op.execute('DROP FUNCTION IF EXISTS gate_flow_hour_apply()')
    op.drop_table('stat_refresh')
    op.drop_table('place_stat_day')
    op.drop_index('ix_gate_flow_hour_hour', table_name='gate_flow_hour')
    op.drop_table('gate_flow_hour')
