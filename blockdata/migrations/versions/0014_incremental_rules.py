"""incremental rules: what changed since a rule's last sweep — access_event.ingest_xid (the landing
transaction's id, indexed), rule_change (changes to the tables the rules read besides events, written by
statement triggers with the writing transaction's id) and rule_watermark (where each rule's last sweep
left off); indexes for a pass's and an unknown face's passages and for grants and passes by validity.
analytics/incremental.py reads them; docs/ANALYTICS.md, "Incremental sweeps".

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 22:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

XID = "(pg_current_xact_id())::text::bigint"
BULK_ROWS = 5000  # a statement that changes more rows than this is logged as one bulk change (a seed, an import)

# table → (person, dwelling, pass) of a changed row ``x``: the subjects a rule may have to look at again.
_KEYS = {
    'person': ("x.id", "x.home_dwelling_id", "NULL::uuid"),
    'person_tag': ("x.person_id", "NULL::int", "NULL::uuid"),
    'household': ("x.head_person_id", "x.dwelling_id", "NULL::uuid"),
    'household_member': ("x.person_id", "(SELECT h.dwelling_id FROM household h WHERE h.id = x.household_id)", "NULL::uuid"),
    'relation': ("x.person_id", "x.dwelling_id", "NULL::uuid"),
    'ownership': ("x.person_id", "x.dwelling_id", "NULL::uuid"),
    'access_grant': ("x.grantee_person_id", "x.dwelling_id", "NULL::uuid"),
    'visitor_pass': ("NULL::bigint", "x.dwelling_id", "x.id"),
    'rental': ("x.lessee_person_id", "x.dwelling_id", "NULL::uuid"),
    'self_declaration': ("x.person_id", "x.dwelling_id", "NULL::uuid"),
    'dwelling': ("NULL::bigint", "x.id", "NULL::uuid"),
}


def _function(table: str) -> str:
    person, dwelling, pass_ = _KEYS[table]
    insert = ("INSERT INTO rule_change (tbl, person_id, dwelling_id, pass_id) "
              f"SELECT TG_TABLE_NAME, {person}, {dwelling}, {pass_} FROM {{rows}} x;")
    return f"""
CREATE FUNCTION gp_rule_change_{table}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO rule_change (tbl, bulk) VALUES (TG_TABLE_NAME, true);
    RETURN NULL;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT {BULK_ROWS + 1}) c) > {BULK_ROWS} THEN
      INSERT INTO rule_change (tbl, bulk) VALUES (TG_TABLE_NAME, true);
      RETURN NULL;
    END IF;
    {insert.format(rows='new_rows')}
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF (SELECT count(*) FROM (SELECT 1 FROM old_rows LIMIT {BULK_ROWS + 1}) c) > {BULK_ROWS} THEN
      INSERT INTO rule_change (tbl, bulk) VALUES (TG_TABLE_NAME, true);
      RETURN NULL;
    END IF;
    {insert.format(rows='old_rows')}
  END IF;
  RETURN NULL;
END $$
"""


# An alert a person closed or dismissed (or one deleted while live): a full sweep would raise it again
# while its finding holds (after the dismissal's cool-down), so its subject is looked at again.
_ALERT = f"""
CREATE FUNCTION gp_rule_change_alert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    RETURN NULL;
  ELSIF TG_OP = 'TRUNCATE' THEN
    INSERT INTO rule_change (tbl, bulk) VALUES ('alert', true);
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO rule_change (tbl, ref)
    SELECT 'alert', n.dedup_key FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.status IS DISTINCT FROM o.status AND n.status NOT IN ('open', 'dispatched');
  ELSIF (SELECT count(*) FROM (SELECT 1 FROM old_rows LIMIT {BULK_ROWS + 1}) c) > {BULK_ROWS} THEN
    INSERT INTO rule_change (tbl, bulk) VALUES ('alert', true);
  ELSE
    INSERT INTO rule_change (tbl, ref) SELECT 'alert', dedup_key FROM old_rows WHERE status IN ('open', 'dispatched');
  END IF;
  RETURN NULL;
END $$
"""

# Utility readings come by the million (a department's daily file, the seed's COPY): no per-row log, one
# bulk mark per statement; the rules that read them sweep fully after it.
_BULK = """
CREATE FUNCTION gp_rule_change_bulk() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO rule_change (tbl, bulk) VALUES (TG_TABLE_NAME, true);
  RETURN NULL;
END $$
"""


def _triggers(table: str, function: str) -> list[str]:
    run = f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    return [
        f"CREATE TRIGGER rule_change_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER rule_change_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER rule_change_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows {run}",
        f"CREATE TRIGGER rule_change_trunc AFTER TRUNCATE ON {table} {run}",
    ]


def upgrade() -> None:
    # Metadata only (no default, then a default for new rows): old rows keep NULL, no table rewrite.
    op.add_column('access_event', sa.Column('ingest_xid', sa.BigInteger(), nullable=True))
    op.execute(f"ALTER TABLE access_event ALTER COLUMN ingest_xid SET DEFAULT {XID}")
    op.create_index('ix_access_event_ingest_xid', 'access_event', ['ingest_xid'], unique=False)
    op.create_index('ix_access_event_pass_ts', 'access_event', ['pass_id', 'ts'], unique=False,
                    postgresql_where='pass_id IS NOT NULL')
    op.create_index('ix_access_event_stranger_ts', 'access_event', ['stranger_id', 'ts'], unique=False,
                    postgresql_where='stranger_id IS NOT NULL')
    op.create_index('ix_access_grant_valid_from', 'access_grant', ['valid_from'], unique=False)
    op.create_index('ix_access_grant_valid_to', 'access_grant', ['valid_to'], unique=False)
    op.create_index('ix_visitor_pass_valid_from', 'visitor_pass', ['valid_from'], unique=False)
    op.create_index('ix_visitor_pass_valid_to', 'visitor_pass', ['valid_to'], unique=False)
    op.create_table('rule_watermark',
    sa.Column('rule', sa.String(length=48), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_xid', sa.BigInteger(), nullable=False),
    sa.Column('running_xids', sa.ARRAY(sa.BigInteger()), server_default='{}', nullable=False),
    sa.Column('candidates', sa.ARRAY(sa.BigInteger()), nullable=True),
    sa.Column('digest', sa.String(length=32), nullable=False),
    sa.Column('full_as_of', sa.DateTime(timezone=True), nullable=True),
    sa.Column('swept_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('rule', name=op.f('pk_rule_watermark'))
    )
    op.create_table('rule_change',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('xid', sa.BigInteger(), server_default=sa.text(XID), nullable=False),
    sa.Column('tbl', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.BigInteger(), nullable=True),
    sa.Column('dwelling_id', sa.Integer(), nullable=True),
    sa.Column('pass_id', sa.UUID(), nullable=True),
    sa.Column('ref', sa.String(length=96), nullable=True),
    sa.Column('bulk', sa.Boolean(), server_default='false', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_change'))
    )
    op.create_index('ix_rule_change_xid', 'rule_change', ['xid'], unique=False)
    for table in _KEYS:
        op.execute(_function(table))
        for statement in _triggers(table, f"gp_rule_change_{table}"):
            op.execute(statement)
    op.execute(_ALERT)
    for statement in _triggers('alert', 'gp_rule_change_alert')[1:]:  # a new alert is the sweep's own doing
        op.execute(statement)
    op.execute(_BULK)
    op.execute("CREATE TRIGGER rule_change_stmt AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON utility_reading "
               "FOR EACH STATEMENT EXECUTE FUNCTION gp_rule_change_bulk()")
    # The rules' service keeps its own bookkeeping; the triggers write as the owner (SECURITY DEFINER).
    op.execute("""DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridpulse_rules') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON rule_watermark TO gridpulse_rules;
        GRANT SELECT, DELETE ON rule_change TO gridpulse_rules;
      END IF;
    END $$""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS rule_change_stmt ON utility_reading")
    for table in [*_KEYS, 'alert']:
        for trigger in ('rule_change_ins', 'rule_change_upd', 'rule_change_del', 'rule_change_trunc'):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS gp_rule_change_{table}()")
    op.execute("DROP FUNCTION IF EXISTS gp_rule_change_bulk()")
    op.drop_index('ix_rule_change_xid', table_name='rule_change')
    op.drop_table('rule_change')
    op.drop_table('rule_watermark')
    for name, table in (('ix_visitor_pass_valid_to', 'visitor_pass'), ('ix_visitor_pass_valid_from', 'visitor_pass'),
                        ('ix_access_grant_valid_to', 'access_grant'), ('ix_access_grant_valid_from', 'access_grant'),
                        ('ix_access_event_stranger_ts', 'access_event'), ('ix_access_event_pass_ts', 'access_event'),
                        ('ix_access_event_ingest_xid', 'access_event')):
        op.drop_index(name, table_name=table)
    op.drop_column('access_event', 'ingest_xid')
