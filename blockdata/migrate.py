"""Run the Alembic migrations from code (the CLI, `make`, and the tests share this)."""
from __future__ import annotations

from alembic import command
from alembic.config import Config

from core.config import PROJECT_ROOT, settings


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "blockdata" / "migrations"))
    cfg.attributes["url"] = url or settings().database_url
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
