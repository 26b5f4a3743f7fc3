"""Run the Alembic migrations from code (the CLI, `make`, and the tests share this)."""
from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from core.config import PROJECT_ROOT, settings


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "blockdata" / "migrations"))
    cfg.attributes["url"] = url or settings().database_url
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
    grant_service_roles(url)


def grant_service_roles(url: str | None = None) -> None:
    """Re-apply the service roles' grants (migration 0006's ``gp_grant_service_roles``) after every upgrade,
    so a table a later migration adds is granted too. Nothing to do below 0006."""
    engine = create_engine(url or settings().database_url)
    try:
        with engine.begin() as conn:
            if conn.execute(text("SELECT to_regprocedure('gp_grant_service_roles()')")).scalar() is not None:
                conn.execute(text("SELECT gp_grant_service_roles()"))
    finally:
        engine.dispose()


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
