"""Alembic environment: the database URL comes from GRIDPULSE_DATABASE_URL (core.config), never from the ini."""
from alembic import context
from sqlalchemy import create_engine

from core.config import settings
from blockdata.models import Base

config = context.config
target_metadata = Base.metadata


def _include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001
    # PostGIS's own tables and the day partitions of access_event are not part of the model.
    if type_ == "table" and (name in {"spatial_ref_sys"} or (name or "").startswith("access_event_")):
        return False
    return True


def run_migrations_online() -> None:
    url = config.attributes.get("url") or settings().database_url
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=_include_object,
            include_schemas=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported; run against a database")
run_migrations_online()
