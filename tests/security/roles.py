"""Connecting as a service's own database role (migration 0006) in the test database: the same database,
another login. The demo and tests trust loopback, so no password; a real deployment sets one per role."""
from __future__ import annotations

import dataclasses

from sqlalchemy.engine import make_url

from core.config import Settings, settings


def role_url(role: str, url: str | None = None) -> str:
    return make_url(url or settings().database_url).set(username=role, password=None).render_as_string(hide_password=False)


def role_dsn(role: str, url: str | None = None) -> str:
    return role_url(role, url).replace("postgresql+psycopg://", "postgresql://", 1)


def as_role(role: str, cfg: Settings | None = None, **changes: object) -> Settings:
    cfg = cfg or settings()
    return dataclasses.replace(cfg, database_url=role_url(role, cfg.database_url), **changes)
