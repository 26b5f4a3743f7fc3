"""trust (issue #16, items 9-19): a grant keeps the grantee's name as the owner typed it, so the resident
services never answer with the name the base holds for an ID number (which would tell that it is registered)

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06 20:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('access_grant', sa.Column('grantee_name_entered', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('access_grant', 'grantee_name_entered')
