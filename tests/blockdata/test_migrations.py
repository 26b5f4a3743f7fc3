"""Migrations go up and down on an empty database, and the models match the migrations."""
from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from core.config import settings
from blockdata import migrate
from tests.conftest import recreate_database


@pytest.fixture(scope="module")
def scratch_url(database_url: str) -> str:
    # named after this run's database: two checkouts testing at once must not drop each other's scratch database
    main = make_url(settings().database_url)
    url = main.set(database=f"{main.database}_migrations").render_as_string(hide_password=False)
    recreate_database(url)
    return url


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) | {f"truth.{t}" for t in inspect(engine).get_table_names("truth")}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(scratch_url: str) -> None:
    migrate.upgrade(scratch_url)
    after_up = tables(scratch_url)
    assert {"region", "grid", "building", "dwelling", "person", "access_event", "audit_log", "truth.injected_anomaly"} <= after_up
    migrate.downgrade(scratch_url)
    assert tables(scratch_url) <= {"alembic_version", "spatial_ref_sys"}
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        leftover_types = conn.execute(
            "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype = 'e'"
        ).fetchall()
    assert leftover_types == []
    migrate.upgrade(scratch_url)
    assert tables(scratch_url) == after_up


def test_models_match_the_migrations(scratch_url: str) -> None:
    migrate.upgrade(scratch_url)
    command.check(migrate.alembic_config(scratch_url))  # raises if autogenerate would emit anything


def test_day_partitions_are_created_ahead_and_events_route_to_them(database_url: str) -> None:
    engine = create_engine(database_url)
    today = dt.datetime.now(dt.timezone.utc).date()
    try:
        with engine.connect() as conn:
            ahead = conn.execute(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'access_event'::regclass")
            ).scalar_one()
            assert ahead >= 8 + 1  # yesterday … today+7, and the default partition
            assert conn.execute(text("SELECT gp_ensure_event_partitions(CAST(:d AS date), CAST(:d AS date))"), {"d": today}).scalar_one() == 0
            conn.execute(text("SET LOCAL timezone = 'Asia/Shanghai'"))
            # 00:30 Beijing time is 16:30 UTC of the previous day: it belongs to that UTC day's partition.
            event_id = uuid.uuid4()
            conn.execute(
                text(
                    "INSERT INTO access_event (event_id, ts, gate_id, direction, method, result) "
                    "VALUES (:id, CAST(:ts AS timestamptz), 1, 'in', 'card', 'open')"
                ),
                {"id": event_id, "ts": f"{today} 00:30:00+08"},
            )
            where = conn.execute(
                text("SELECT tableoid::regclass::text FROM access_event WHERE event_id = :id"), {"id": event_id}
            ).scalar_one()
            assert where == f"access_event_{today - dt.timedelta(days=1):%Y%m%d}"
            conn.rollback()  # leave the test database as it was
    finally:
        engine.dispose()
