"""rules refresh statistics: the rules service may write the daily statistics it refreshes.

`rules watch` refreshes 统计's daily figures after its sweeps (analytics/stats_refresh.py, issue 18), as its
own role gridpulse_rules. Migration 0011 made the tables and migration 0006's grants give that role only
SELECT on them, so in `make demo` (every service as its own role) each refresh failed with "permission
denied for table place_stat_day"; the tests, as the superuser, did not see it. The refresh replaces a
day's rows (DELETE, INSERT) and records the refresh (INSERT … ON CONFLICT DO UPDATE): exactly those.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:30:00
"""
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

_GRANTS = ("GRANT SELECT, INSERT, DELETE ON place_stat_day TO gridpulse_rules; "
           "GRANT SELECT, INSERT, UPDATE ON stat_refresh TO gridpulse_rules;")
_REVOKES = ("REVOKE INSERT, DELETE ON place_stat_day FROM gridpulse_rules; "
            "REVOKE INSERT, UPDATE ON stat_refresh FROM gridpulse_rules;")


def _if_role(statements: str) -> str:
    return f"""DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridpulse_rules') THEN {statements} END IF;
    END $$"""


def upgrade() -> None:
    op.execute(_if_role(_GRANTS))


def downgrade() -> None:
    op.execute(_if_role(_REVOKES))
