"""Engines and sessions for the configured database, created once per process."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from core.config import settings


@lru_cache(maxsize=4)
def engine(url: str | None = None) -> Engine:
    return create_engine(url or settings().database_url, pool_pre_ping=True, future=True)


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(engine(url), expire_on_commit=False)


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error (nothing half-written)."""
    with session_factory(url)() as session, session.begin():
        yield session


def raw_connection(url: str | None = None) -> psycopg.Connection:
    """A plain psycopg connection, for COPY, which the ORM does not do."""
    dsn = (url or settings().database_url).replace("postgresql+psycopg://", "postgresql://", 1)
    return psycopg.connect(dsn)


def ensure_event_partitions(session: Session, first_day: str, last_day: str) -> int:
    """Create the day partitions of access_event for [first_day, last_day]; returns how many were new."""
    return session.execute(
        text("SELECT gp_ensure_event_partitions(CAST(:a AS date), CAST(:b AS date))"), {"a": first_day, "b": last_day}
    ).scalar_one()
