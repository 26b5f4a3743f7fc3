"""Test set-up: a separate database (gridpulse_test) and Redis key prefix (gptest:), never the demo's.

The environment is set before anything reads core.config, so every stage under test talks to the
test database and prefix.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_test")
os.environ.setdefault("GRIDPULSE_REDIS_PREFIX", "gptest:")
os.environ.setdefault("GRIDPULSE_KEY_FILE", str(ROOT / "var" / "test-secrets.json"))
# Each service's own key file (core/keys.py), split from the test key file once per run, below.
os.environ.setdefault("GRIDPULSE_BRIDGE_KEY_FILE", str(ROOT / "var" / "test-keys" / "bridge.json"))
os.environ.setdefault("GRIDPULSE_RESIDENTS_KEY_FILE", str(ROOT / "var" / "test-keys" / "residents.json"))

import fcntl  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import psycopg  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from core.config import settings  # noqa: E402
from core.keys import split as split_keys  # noqa: E402

split_keys()

SHARED = ROOT.parent / "shared"


def _admin_dsn(url: str) -> tuple[str, str]:
    u = make_url(url)
    admin = u.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), u.database or ""


def recreate_database(url: str) -> None:
    """Drop and create the database behind ``url`` (PostGIS is created by the first migration)."""
    admin, name = _admin_dsn(url)
    assert name.endswith("_test") or "test" in name, f"refusing to recreate non-test database {name!r}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The migrated, empty test database for this test run.

    Two pytest runs on one machine (two checkouts, or a developer beside CI) would drop each other's
    database; a machine-wide file lock per database makes the second wait for the first instead.
    """
    from blockdata import migrate

    url = settings().database_url
    lock_path = Path(tempfile.gettempdir()) / f"gridpulse-pytest-{make_url(url).database}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recreate_database(url)
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def trained_address_tagger() -> None:
    """Train (or load) the address tagger once, in this process, before a test starts a server that parses
    addresses: on a fresh machine the first training takes about five minutes, longer than any page wait,
    and the model is cached on disk (``GRIDPULSE_MODEL_CACHE``) for the servers the tests start."""
    from intake.addresses.tagger import tagger

    tagger()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.fail(f"test data missing: {SHARED} (the shared/ folder must sit beside the checkout)")
    return SHARED


@pytest.fixture(scope="module")
def places(database_url: str):  # noqa: ANN201 - tests.places.Places
    """The small hand-built place hierarchy (tests/places.py), once per module that asks for it."""
    from blockdata.db import transaction
    from tests import places as P

    with transaction() as session:
        return P.build(session)


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201 - a playwright Browser, shared by one module's page tests
    """Headless Chromium for the page tests of one module (tests/browser.py: Debian's chromium through Playwright)."""
    from tests.browser import playwright_chromium

    with playwright_chromium() as b:
        yield b
