"""trust: published consent notices (a template opens a gate only under a live consent to one of them), the
population-library fallback's legal basis per compound and its per-gate lookups, the narrow call the bridges
search the population library through (gp_population_identify), and the service roles with their least grants

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-06 19:40:00
"""
from alembic import op
import sqlalchemy as sa

from blockdata.migrations.sql_0006 import DOWNGRADE_SQL, UPGRADE_SQL, grant_statements

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'consent_notice',
        sa.Column('version', sa.String(length=32), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('published_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_consent_notice')),
    )
    # Every notice a consent already names was shown by the platform (the app sent it from config): keep them.
    op.execute("""INSERT INTO consent_notice (version, published_at, published_by)
                  SELECT notice_version, min(granted_at), 'migration 0006' FROM face_consent GROUP BY notice_version""")
    op.execute("""INSERT INTO consent_notice (version, published_by) VALUES ('2026-12', 'migration 0006')
                  ON CONFLICT (version) DO NOTHING""")
    op.create_foreign_key(op.f('fk_face_consent_notice_version_consent_notice'), 'face_consent', 'consent_notice',
                          ['notice_version'], ['version'])
    op.create_table(
        'population_basis',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('compound_id', sa.Integer(), nullable=False),
        sa.Column('granted_by', sa.String(length=64), nullable=False),
        sa.Column('document', sa.String(length=256), nullable=False),
        sa.Column('valid_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lookups_per_minute', sa.Integer(), server_default='30', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('valid_until > valid_from', name=op.f('ck_population_basis_until_after_from')),
        sa.CheckConstraint('length(btrim(granted_by)) > 0 AND length(btrim(document)) > 0',
                           name=op.f('ck_population_basis_who_and_document')),
        sa.CheckConstraint('lookups_per_minute BETWEEN 1 AND 600', name=op.f('ck_population_basis_rate_range')),
        sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], name=op.f('fk_population_basis_compound_id_compound'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_population_basis')),
    )
    op.create_index(op.f('ix_population_basis_compound_id'), 'population_basis', ['compound_id'], unique=False)
    op.create_table(
        'population_lookup',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('compound_id', sa.Integer(), nullable=False),
        sa.Column('gate_id', sa.Integer(), nullable=False),
        sa.Column('basis_id', sa.Integer(), nullable=False),
        sa.Column('matched', sa.Boolean(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], name=op.f('fk_population_lookup_compound_id_compound'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['gate_id'], ['gate.id'], name=op.f('fk_population_lookup_gate_id_gate'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['basis_id'], ['population_basis.id'],
                                name=op.f('fk_population_lookup_basis_id_population_basis'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_population_lookup')),
    )
    op.create_index('ix_population_lookup_gate_at', 'population_lookup', ['gate_id', 'at'], unique=False)
    for statement in UPGRADE_SQL:
        op.execute(statement)
    for statement in grant_statements():
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE_SQL:
        op.execute(statement)
    op.drop_index('ix_population_lookup_gate_at', table_name='population_lookup')
    op.drop_table('population_lookup')
    op.drop_index(op.f('ix_population_basis_compound_id'), table_name='population_basis')
    op.drop_table('population_basis')
    op.drop_constraint(op.f('fk_face_consent_notice_version_consent_notice'), 'face_consent', type_='foreignkey')
    op.drop_table('consent_notice')
