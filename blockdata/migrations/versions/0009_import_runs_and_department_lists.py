"""import runs (who, file, counts, what each created or changed, so it can be undone); the departments'
lists: a person tag's source department, utility accounts tied to dwellings, property-fee payments

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 19:40:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0009'
down_revision = '0008'  # written on 0004; chained after onboard's 0008 when merging it
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_run',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=256), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('updated', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("mode IN ('insert', 'upsert')", name=op.f('ck_import_run_mode_values')),
    sa.CheckConstraint('(undone_at IS NULL) = (undone_by IS NULL)', name=op.f('ck_import_run_undone_with_who')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_run'))
    )
    op.create_index('ix_import_run_created_at', 'import_run', ['created_at'], unique=False)
    op.add_column('person_tag', sa.Column('source_department', sa.String(length=16), nullable=True))
    op.create_table('utility_account',
    sa.Column('kind', postgresql.ENUM('water', 'electricity', 'gas', name='utility_kind', create_type=False), nullable=False),
    sa.Column('account_number', sa.String(length=32), nullable=False),
    sa.Column('dwelling_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['dwelling_id'], ['dwelling.id'], name=op.f('fk_utility_account_dwelling_id_dwelling'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('kind', 'account_number', name=op.f('pk_utility_account'))
    )
    op.create_index(op.f('ix_utility_account_dwelling_id'), 'utility_account', ['dwelling_id'], unique=False)
    op.create_table('property_fee',
    sa.Column('dwelling_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('payer_name', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.Numeric(precision=9, scale=2), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.CheckConstraint('amount IS NULL OR amount >= 0', name=op.f('ck_property_fee_amount_non_negative')),
    sa.CheckConstraint('extract(day FROM period) = 1', name=op.f('ck_property_fee_period_is_month')),
    sa.ForeignKeyConstraint(['dwelling_id'], ['dwelling.id'], name=op.f('fk_property_fee_dwelling_id_dwelling'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dwelling_id', 'period', name=op.f('pk_property_fee'))
    )


def downgrade() -> None:
    op.drop_table('property_fee')
    op.drop_index(op.f('ix_utility_account_dwelling_id'), table_name='utility_account')
    op.drop_table('utility_account')
    op.drop_column('person_tag', 'source_department')
    op.drop_index('ix_import_run_created_at', table_name='import_run')
    op.drop_table('import_run')
