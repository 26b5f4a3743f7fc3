"""region.location: a region given as a point (code, name, location), as official lists deliver streets and
communities, without inventing a polygon for it

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-06 19:50:00
"""
from alembic import op
import geoalchemy2
import sqlalchemy as sa


revision = '0008'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('region', sa.Column('location', geoalchemy2.types.Geometry(
        geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT',
        name='geometry'), nullable=True))
    op.create_index('idx_region_location', 'region', ['location'], unique=False, postgresql_using='gist')
    op.create_check_constraint('ck_region_location_valid', 'region',
                               'location IS NULL OR (ST_IsValid(location) AND NOT ST_IsEmpty(location))')


def downgrade() -> None:
    op.drop_constraint('ck_region_location_valid', 'region', type_='check')
    op.drop_index('idx_region_location', table_name='region', postgresql_using='gist')
    op.drop_column('region', 'location')
