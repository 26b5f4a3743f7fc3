"""rules by meaning: counter health (outages of key-site counters), a blank legal basis is no legal basis,
the rule version on each alert (doorstep precision per rule and version)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('counter_outage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gate_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('ends_at IS NULL OR ends_at > starts_at', name=op.f('ck_counter_outage_outage_order')),
    sa.ForeignKeyConstraint(['gate_id'], ['gate.id'], name=op.f('fk_counter_outage_gate_id_gate'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counter_outage'))
    )
    op.create_index(op.f('ix_counter_outage_gate_id'), 'counter_outage', ['gate_id'], unique=False)
    # A blank basis was accepted as a basis; refuse to guess what was meant and say which rows to fix.
    op.execute("""
      DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM person_tag WHERE legal_basis IS NOT NULL AND btrim(legal_basis) = '') THEN
          RAISE EXCEPTION 'person_tag rows with a blank legal_basis: give them a real basis or remove the tag, then migrate again';
        END IF;
      END $$""")
    op.create_check_constraint('legal_basis_not_blank', 'person_tag', "legal_basis IS NULL OR btrim(legal_basis) <> ''")
    op.add_column('alert', sa.Column('rule_version', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column('alert', 'rule_version')
    op.drop_constraint(op.f('ck_person_tag_legal_basis_not_blank'), 'person_tag', type_='check')
    op.drop_index(op.f('ix_counter_outage_gate_id'), table_name='counter_outage')
    op.drop_table('counter_outage')
