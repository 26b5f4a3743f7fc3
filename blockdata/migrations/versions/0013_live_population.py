"""live population: the real-time population (实时人口) kept up to date as events land, in the same
transaction as the rollups, instead of recomputed from the whole event table on every read.

- presence_person: each person's last open gate passage of the last 48 hours (event trigger on
  access_event, out-of-order and duplicate safe: the newer (ts, event_id) wins, and access_event's
  ON CONFLICT DO NOTHING keeps redelivered events out of the transition table);
- presence_pass: each visitor pass's last entry and last exit of the last 24 hours;
- population_live: per building, residents (person trigger), residents whose last passage is an exit
  (``away``) and visitor passes inside (``visitors``).

A read is counter - (entries that aged past the boundary since the last expiry), docs/ANALYTICS.md;
``gp_population_expire`` (the scheduler) deletes aged rows and takes them out of the counters.
The functions are SECURITY DEFINER: the services that write events and people (ingest, app,
resident services) need no rights on these tables.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 22:50:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# The two time boundaries of the method (analytics/population.py reads them from here too).
_WINDOWS = [
    "CREATE FUNCTION gp_population_away() RETURNS interval LANGUAGE sql IMMUTABLE AS $$ SELECT interval '48 hours' $$",
    "CREATE FUNCTION gp_population_visit() RETURNS interval LANGUAGE sql IMMUTABLE AS $$ SELECT interval '24 hours' $$",
]

_DEFINER = "SECURITY DEFINER SET search_path = public, pg_temp"

# New events: the newest open passage per person (and per pass) moves the counters of the person's home
# building (the pass's dwelling's building). One upsert per kind: ON CONFLICT DO UPDATE works on the
# latest committed row under its lock, and keeps the state it replaces (was_out, was_inside) so the
# difference is exact however batches interleave; the counters are then moved by a second statement, whose
# snapshot sees a home changed by a transaction that held the row meanwhile (gp_population_people).
_EVENTS = f"""
CREATE FUNCTION gp_presence_events() RETURNS trigger LANGUAGE plpgsql {_DEFINER} AS $$
DECLARE
  since_p timestamptz := now() - gp_population_away();
  since_v timestamptz := now() - gp_population_visit();
  ids bigint[];
  passes uuid[];
  deltas integer[];
BEGIN
  WITH ev AS (
    SELECT DISTINCT ON (person_id) person_id, ts, event_id, direction = 'out' AS is_out
    FROM new_rows WHERE person_id IS NOT NULL AND result = 'open' AND ts > since_p
    ORDER BY person_id, ts DESC, event_id DESC
  ), up AS (
    INSERT INTO presence_person AS pp (person_id, last_ts, last_event, is_out, was_out)
    SELECT person_id, ts, event_id, is_out, false FROM ev ORDER BY person_id
    ON CONFLICT (person_id) DO UPDATE
      SET last_ts = EXCLUDED.last_ts, last_event = EXCLUDED.last_event, is_out = EXCLUDED.is_out, was_out = pp.is_out
      WHERE (EXCLUDED.last_ts, EXCLUDED.last_event) > (pp.last_ts, pp.last_event)
    RETURNING pp.person_id, pp.is_out::int - pp.was_out::int AS d
  )
  SELECT array_agg(person_id), array_agg(d) INTO ids, deltas FROM up WHERE d <> 0;
  IF ids IS NOT NULL THEN
    INSERT INTO population_live AS l (building_id, away)
    SELECT d.building_id, sum(u.d) FROM unnest(ids, deltas) AS u(person_id, d)
    JOIN person p ON p.id = u.person_id JOIN dwelling d ON d.id = p.home_dwelling_id
    GROUP BY 1 HAVING sum(u.d) <> 0 ORDER BY 1
    ON CONFLICT (building_id) DO UPDATE SET away = l.away + EXCLUDED.away;
  END IF;

  WITH ev AS (
    SELECT pass_id,
           max(ts) FILTER (WHERE direction = 'in' AND method = 'visitor_qr' AND result = 'open') AS new_in,
           max(ts) FILTER (WHERE direction = 'out') AS new_out
    FROM new_rows WHERE pass_id IS NOT NULL AND ts > since_v
      AND (direction = 'out' OR (direction = 'in' AND method = 'visitor_qr' AND result = 'open'))
    GROUP BY pass_id
  ), up AS (
    INSERT INTO presence_pass AS x (pass_id, last_in, last_out, was_inside)
    SELECT pass_id, new_in, new_out, false FROM ev ORDER BY pass_id
    ON CONFLICT (pass_id) DO UPDATE
      SET last_in = greatest(x.last_in, EXCLUDED.last_in), last_out = greatest(x.last_out, EXCLUDED.last_out),
          was_inside = gp_visit_inside(x.last_in, x.last_out)
    RETURNING x.pass_id, gp_visit_inside(x.last_in, x.last_out)::int - x.was_inside::int AS d
  )
  SELECT array_agg(pass_id), array_agg(d) INTO passes, deltas FROM up WHERE d <> 0;
  IF passes IS NOT NULL THEN
    INSERT INTO population_live AS l (building_id, visitors)
    SELECT d.building_id, sum(u.d) FROM unnest(passes, deltas) AS u(pass_id, d)
    JOIN visitor_pass v ON v.id = u.pass_id JOIN dwelling d ON d.id = v.dwelling_id
    GROUP BY 1 HAVING sum(u.d) <> 0 ORDER BY 1
    ON CONFLICT (building_id) DO UPDATE SET visitors = l.visitors + EXCLUDED.visitors;
  END IF;
  RETURN NULL;
END $$
"""

# People: a home dwelling set, changed or cleared moves the person (and their ``away``, if their last
# passage is an exit) from one building to the other.
_PEOPLE = f"""
CREATE FUNCTION gp_population_people() RETURNS trigger LANGUAGE plpgsql {_DEFINER} AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO population_live AS l (building_id, residents, away)
    SELECT d.building_id, count(*), count(*) FILTER (WHERE pp.is_out)
    FROM new_rows n JOIN dwelling d ON d.id = n.home_dwelling_id LEFT JOIN presence_person pp ON pp.person_id = n.id
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (building_id) DO UPDATE SET residents = l.residents + EXCLUDED.residents, away = l.away + EXCLUDED.away;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE population_live l SET residents = l.residents - c.r, away = l.away - c.a
    FROM (SELECT d.building_id, count(*) AS r, count(*) FILTER (WHERE pp.is_out) AS a
          FROM old_rows o JOIN dwelling d ON d.id = o.home_dwelling_id LEFT JOIN presence_person pp ON pp.person_id = o.id
          GROUP BY 1 ORDER BY 1) c
    WHERE l.building_id = c.building_id;
  ELSE
    IF NOT EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n USING (id)
                   WHERE o.home_dwelling_id IS DISTINCT FROM n.home_dwelling_id) THEN
      RETURN NULL;
    END IF;
    PERFORM 1 FROM presence_person pp
    WHERE pp.person_id IN (SELECT o.id FROM old_rows o JOIN new_rows n USING (id)
                           WHERE o.home_dwelling_id IS DISTINCT FROM n.home_dwelling_id)
    ORDER BY pp.person_id FOR UPDATE;
    WITH mv AS (
      SELECT o.id, o.home_dwelling_id AS old_d, n.home_dwelling_id AS new_d
      FROM old_rows o JOIN new_rows n USING (id) WHERE o.home_dwelling_id IS DISTINCT FROM n.home_dwelling_id
    ), chg AS (
      SELECT id, old_d AS dwelling_id, -1 AS sign FROM mv WHERE old_d IS NOT NULL
      UNION ALL
      SELECT id, new_d, 1 FROM mv WHERE new_d IS NOT NULL
    )
    INSERT INTO population_live AS l (building_id, residents, away)
    SELECT d.building_id, sum(c.sign), sum(c.sign * coalesce(pp.is_out::int, 0))
    FROM chg c JOIN dwelling d ON d.id = c.dwelling_id LEFT JOIN presence_person pp ON pp.person_id = c.id
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (building_id) DO UPDATE SET residents = l.residents + EXCLUDED.residents, away = l.away + EXCLUDED.away;
  END IF;
  RETURN NULL;
END $$
"""

# A dwelling deleted: its residents (whose home the foreign key then clears, when the dwelling can no
# longer be found) and its visitors leave its building now, while the dwelling is still there.
_DWELLING_GONE = f"""
CREATE FUNCTION gp_population_dwelling_gone() RETURNS trigger LANGUAGE plpgsql {_DEFINER} AS $$
BEGIN
  UPDATE population_live l
  SET residents = l.residents - (SELECT count(*) FROM person p WHERE p.home_dwelling_id = OLD.id),
      away = l.away - (SELECT count(*) FROM person p JOIN presence_person pp ON pp.person_id = p.id
                       WHERE p.home_dwelling_id = OLD.id AND pp.is_out),
      visitors = l.visitors - (SELECT count(*) FROM visitor_pass v JOIN presence_pass x ON x.pass_id = v.id
                               WHERE v.dwelling_id = OLD.id AND gp_visit_inside(x.last_in, x.last_out))
  WHERE l.building_id = OLD.building_id;
  RETURN OLD;
END $$
"""

# TRUNCATE fires no row or transition trigger (tests and a reseed empty the tables this way).
_TRUNCATES = [
    f"CREATE FUNCTION gp_presence_truncate() RETURNS trigger LANGUAGE plpgsql {_DEFINER} AS $$ BEGIN "
    "DELETE FROM presence_person; DELETE FROM presence_pass; UPDATE population_live SET away = 0, visitors = 0; "
    "RETURN NULL; END $$",
    f"CREATE FUNCTION gp_population_people_truncate() RETURNS trigger LANGUAGE plpgsql {_DEFINER} AS $$ BEGIN "
    "UPDATE population_live SET residents = 0, away = 0; RETURN NULL; END $$",
]

# Rows whose passage aged past the boundary leave the counters and the tables (the scheduler, every minute).
_EXPIRE = f"""
CREATE FUNCTION gp_population_expire(at timestamptz) RETURNS TABLE (people integer, passes integer)
LANGUAGE plpgsql {_DEFINER} AS $$
DECLARE n_people integer; n_passes integer;
BEGIN
  WITH gone AS (
    DELETE FROM presence_person pp WHERE pp.last_ts <= at - gp_population_away() RETURNING pp.person_id, pp.is_out
  ), delta AS (
    SELECT d.building_id, count(*) AS n FROM gone JOIN person p ON p.id = gone.person_id
    JOIN dwelling d ON d.id = p.home_dwelling_id WHERE gone.is_out GROUP BY 1
  ), upd AS (
    UPDATE population_live l SET away = l.away - delta.n FROM delta WHERE l.building_id = delta.building_id RETURNING 1
  )
  SELECT count(*) INTO n_people FROM gone;
  WITH gone AS (
    DELETE FROM presence_pass x WHERE greatest(x.last_in, x.last_out) <= at - gp_population_visit()
    RETURNING x.pass_id, gp_visit_inside(x.last_in, x.last_out) AS inside
  ), delta AS (
    SELECT d.building_id, count(*) AS n FROM gone JOIN visitor_pass v ON v.id = gone.pass_id
    JOIN dwelling d ON d.id = v.dwelling_id WHERE gone.inside GROUP BY 1
  ), upd AS (
    UPDATE population_live l SET visitors = l.visitors - delta.n FROM delta WHERE l.building_id = delta.building_id RETURNING 1
  )
  SELECT count(*) INTO n_passes FROM gone;
  RETURN QUERY SELECT n_people, n_passes;
END $$
"""

_TRIGGERS = [
    "CREATE TRIGGER presence_events AFTER INSERT ON access_event REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gp_presence_events()",
    "CREATE TRIGGER presence_truncate AFTER TRUNCATE ON access_event FOR EACH STATEMENT EXECUTE FUNCTION gp_presence_truncate()",
    "CREATE TRIGGER population_people_ins AFTER INSERT ON person REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gp_population_people()",
    "CREATE TRIGGER population_people_upd AFTER UPDATE ON person REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gp_population_people()",
    "CREATE TRIGGER population_people_del AFTER DELETE ON person REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gp_population_people()",
    "CREATE TRIGGER population_people_trunc AFTER TRUNCATE ON person FOR EACH STATEMENT "
    "EXECUTE FUNCTION gp_population_people_truncate()",
    "CREATE TRIGGER population_dwelling_gone BEFORE DELETE ON dwelling FOR EACH ROW "
    "EXECUTE FUNCTION gp_population_dwelling_gone()",
]

_FUNCTIONS = ('gp_population_expire(timestamptz)', 'gp_population_dwelling_gone()', 'gp_population_people_truncate()',
              'gp_presence_truncate()', 'gp_population_people()', 'gp_presence_events()',
              'gp_visit_inside(timestamptz, timestamptz)', 'gp_population_visit()', 'gp_population_away()')

# The counters of the rows already there (an upgrade of a running base).
_BACKFILL = [
    "INSERT INTO presence_person (person_id, last_ts, last_event, is_out) "
    "SELECT DISTINCT ON (person_id) person_id, ts, event_id, direction = 'out' FROM access_event "
    "WHERE person_id IS NOT NULL AND result = 'open' AND ts > now() - gp_population_away() "
    "ORDER BY person_id, ts DESC, event_id DESC",
    "INSERT INTO presence_pass (pass_id, last_in, last_out) "
    "SELECT pass_id, max(ts) FILTER (WHERE direction = 'in' AND method = 'visitor_qr' AND result = 'open'), "
    "max(ts) FILTER (WHERE direction = 'out') FROM access_event "
    "WHERE pass_id IS NOT NULL AND ts > now() - gp_population_visit() GROUP BY pass_id",
    "INSERT INTO population_live (building_id, residents, away, visitors) "
    "SELECT b.id, (SELECT count(*) FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id WHERE d.building_id = b.id), "
    "(SELECT count(*) FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id "
    " JOIN presence_person pp ON pp.person_id = p.id WHERE d.building_id = b.id AND pp.is_out), "
    "(SELECT count(*) FROM visitor_pass v JOIN dwelling d ON d.id = v.dwelling_id JOIN presence_pass x ON x.pass_id = v.id "
    " WHERE d.building_id = b.id AND gp_visit_inside(x.last_in, x.last_out)) FROM building b",
]


def upgrade() -> None:
    for statement in _WINDOWS:
        op.execute(statement)
    # A pass is inside when its last entry has no exit after it (an exit at the same instant does not count).
    op.execute("CREATE FUNCTION gp_visit_inside(last_in timestamptz, last_out timestamptz) RETURNS boolean "
               "LANGUAGE sql IMMUTABLE AS $$ SELECT last_in IS NOT NULL AND (last_out IS NULL OR last_out <= last_in) $$")
    op.create_table('presence_person',
    sa.Column('person_id', sa.BigInteger(), nullable=False),
    sa.Column('last_ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_event', postgresql.UUID(as_uuid=True), nullable=False),
    sa.Column('is_out', sa.Boolean(), nullable=False),
    sa.Column('was_out', sa.Boolean(), server_default='false', nullable=False),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_presence_person'))
    )
    op.create_index('ix_presence_person_out_ts', 'presence_person', ['last_ts'], unique=False,
                    postgresql_where=sa.text('is_out'))
    op.create_table('presence_pass',
    sa.Column('pass_id', postgresql.UUID(as_uuid=True), nullable=False),
    sa.Column('last_in', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_out', sa.DateTime(timezone=True), nullable=True),
    sa.Column('was_inside', sa.Boolean(), server_default='false', nullable=False),
    sa.PrimaryKeyConstraint('pass_id', name=op.f('pk_presence_pass'))
    )
    op.create_index('ix_presence_pass_last_in', 'presence_pass', ['last_in'], unique=False)
    op.create_table('population_live',
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('residents', sa.Integer(), server_default='0', nullable=False),
    sa.Column('away', sa.Integer(), server_default='0', nullable=False),
    sa.Column('visitors', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_population_live_building_id_building'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('building_id', name=op.f('pk_population_live'))
    )
    for statement in (_EVENTS, _PEOPLE, _DWELLING_GONE, *_TRUNCATES, _EXPIRE, *_TRIGGERS, *_BACKFILL):
        op.execute(statement)
    # Expiring at a chosen moment is the scheduler's (the app's or the rules' role), not anyone's.
    op.execute("REVOKE ALL ON FUNCTION gp_population_expire(timestamptz) FROM PUBLIC")
    op.execute("GRANT EXECUTE ON FUNCTION gp_population_expire(timestamptz) TO gridpulse_app, gridpulse_rules")


def downgrade() -> None:
    for trigger, table in (('population_dwelling_gone', 'dwelling'), ('population_people_trunc', 'person'),
                           ('population_people_del', 'person'), ('population_people_upd', 'person'),
                           ('population_people_ins', 'person'), ('presence_truncate', 'access_event'),
                           ('presence_events', 'access_event')):
        op.execute(f'DROP TRIGGER IF EXISTS {trigger} ON {table}')
    for fn in _FUNCTIONS:
        op.execute(f'DROP FUNCTION IF EXISTS {fn}')
    op.drop_table('population_live')
    op.drop_index('ix_presence_pass_last_in', table_name='presence_pass')
    op.drop_table('presence_pass')
    op.drop_index('ix_presence_person_out_ts', table_name='presence_person')
    op.drop_table('presence_person')
