"""resident services: access_allowed/access_barred views, face consent records, self-declarations tied to their work order, and NOTIFY on
every change a gate bridge must see (grants, passes, ownership, rentals, app face templates)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# The payload is the compound whose gates must reload ('*': every bridge), so a bridge wakes only for
# its own compound. Visitor-pass entry counting (entries_used) is not a change a gate must reload for.
_NOTIFY_FN = """
CREATE OR REPLACE FUNCTION gp_notify_access() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  dwelling integer;
  target text;
BEGIN
  IF TG_TABLE_NAME = 'face_template' THEN
    target := '*';
  ELSE
    dwelling := CASE WHEN TG_OP = 'DELETE' THEN OLD.dwelling_id ELSE NEW.dwelling_id END;
    SELECT b.compound_id::text INTO target FROM dwelling d JOIN building b ON b.id = d.building_id WHERE d.id = dwelling;
  END IF;
  PERFORM pg_notify('gp_access_changed', coalesce(target, '*'));
  RETURN NULL;
END $$
"""
# Who may enter which compound, in one place for the gate bridge (per compound) and the resident
# services (per person): owners, residents, household members and grantees of a grant valid now.
_IN_COMPOUND = "JOIN dwelling d ON d.id = {t}.dwelling_id JOIN building b ON b.id = d.building_id"
_ACCESS_ALLOWED = f"""
CREATE VIEW access_allowed AS
SELECT o.person_id, b.compound_id, 'owner'::text AS basis FROM ownership o {_IN_COMPOUND.format(t='o')}
UNION
SELECT p.id, b.compound_id, 'resident' FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id
  JOIN building b ON b.id = d.building_id
UNION
SELECT m.person_id, b.compound_id, 'household' FROM household_member m JOIN household h ON h.id = m.household_id
  {_IN_COMPOUND.format(t='h')}
UNION
SELECT g.grantee_person_id, b.compound_id, 'grant' FROM access_grant g {_IN_COMPOUND.format(t='g')}
WHERE g.revoked_at IS NULL AND g.valid_from <= now() AND (g.valid_to IS NULL OR g.valid_to > now())
"""
# People known at a compound but refused, and why (a blacklisted rental overrides every basis but ownership).
_ACCESS_BARRED = f"""
CREATE VIEW access_barred AS
SELECT g.grantee_person_id AS person_id, b.compound_id,
       CASE WHEN g.revoked_at IS NOT NULL THEN 'grant_revoked' ELSE 'grant_expired' END AS reason
FROM access_grant g {_IN_COMPOUND.format(t='g')}
WHERE NOT (g.revoked_at IS NULL AND g.valid_from <= now() AND (g.valid_to IS NULL OR g.valid_to > now()))
UNION ALL
SELECT r.lessee_person_id, b.compound_id, 'blacklisted' FROM rental r {_IN_COMPOUND.format(t='r')}
WHERE r.blacklisted AND (r.end_date IS NULL OR r.end_date >= current_date)
"""
_TRIGGERS = {
    "access_grant": "AFTER INSERT OR UPDATE OR DELETE ON access_grant FOR EACH ROW",
    "visitor_pass": "AFTER INSERT OR DELETE OR UPDATE OF revoked_at, valid_from, valid_to, entries_allowed ON visitor_pass FOR EACH ROW",
    "ownership": "AFTER INSERT OR UPDATE OR DELETE ON ownership FOR EACH ROW",
    "rental": "AFTER INSERT OR UPDATE OR DELETE ON rental FOR EACH ROW",
}
_FACE_TRIGGERS = {
    "face_template_app_written": "AFTER INSERT OR UPDATE ON face_template FOR EACH ROW WHEN (NEW.library = 'app')",
    "face_template_app_deleted": "AFTER DELETE ON face_template FOR EACH ROW WHEN (OLD.library = 'app')",
}


def upgrade() -> None:
    op.create_table(
        'face_consent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.BigInteger(), nullable=False),
        sa.Column('purpose', sa.String(length=128), nullable=False),
        sa.Column('notice_version', sa.String(length=32), nullable=False),
        sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('templates_deleted', sa.Integer(), nullable=True),
        sa.CheckConstraint('withdrawn_at IS NULL OR withdrawn_at >= granted_at', name=op.f('ck_face_consent_withdrawal_order')),
        sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_face_consent_person_id_person'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_face_consent')),
    )
    op.create_index(op.f('ix_face_consent_person_id'), 'face_consent', ['person_id'], unique=False)
    op.create_index('uq_face_consent_live', 'face_consent', ['person_id'], unique=True, postgresql_where='withdrawn_at IS NULL')
    op.add_column('self_declaration', sa.Column('work_order_id', sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f('fk_self_declaration_work_order_id_work_order'), 'self_declaration', 'work_order',
                          ['work_order_id'], ['id'], ondelete='SET NULL')
    op.execute(_ACCESS_ALLOWED)
    op.execute(_ACCESS_BARRED)
    op.execute(_NOTIFY_FN)
    for table, when in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {table}_notify_access {when} EXECUTE FUNCTION gp_notify_access()")
    for name, when in _FACE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION gp_notify_access()")


def downgrade() -> None:
    for name in _FACE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON face_template")
    for table in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_access ON {table}")
    op.execute("DROP FUNCTION IF EXISTS gp_notify_access()")
    op.execute("DROP VIEW IF EXISTS access_barred")
    op.execute("DROP VIEW IF EXISTS access_allowed")
    op.drop_constraint(op.f('fk_self_declaration_work_order_id_work_order'), 'self_declaration', type_='foreignkey')
    op.drop_column('self_declaration', 'work_order_id')
    op.drop_index('uq_face_consent_live', table_name='face_consent', postgresql_where='withdrawn_at IS NULL')
    op.drop_index(op.f('ix_face_consent_person_id'), table_name='face_consent')
    op.drop_table('face_consent')
