"""/healthz of the app under gunicorn answers 503 (saying what is unreachable) while its PostgreSQL or its
Redis is stopped, and 200 again once they are back; the app itself recovers without a restart (a login
is checked against the database again, and audited there). The app runs against a PostgreSQL cluster and
a redis-server of this test's own, on free ports."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from blockdata import migrate
from tests.browser import free_port
from tests.conftest import ROOT
from tests.ops import failed_login
from tests.ops.pg_server import OwnPostgres, own_postgres
from tests.ops.redis_server import OwnRedis, own_redis
from tests.streams import wait_for

pytestmark = pytest.mark.slow
USER = "healthz-probe-user"


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return -1


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, OwnPostgres, OwnRedis]]:
    with own_postgres() as pg, own_redis() as rd:
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "gridpulse"')
        migrate.upgrade(pg.url("gridpulse"))
        port = free_port()
        work = tmp_path_factory.mktemp("healthz")
        env = {**os.environ, "GRIDPULSE_DATABASE_URL": pg.url("gridpulse"), "GRIDPULSE_REDIS_URL": rd.url,
               "GRIDPULSE_PORT": str(port), "GRIDPULSE_APP_WORKERS": "2", "GRIDPULSE_METRICS_DIR": str(work / "metrics"),
               "GRIDPULSE_LOG_DIR": str(work / "log"), "GRIDPULSE_HEALTH_TIMEOUT_S": "1",
               # seven wrong passwords for one account prove each worker reads and writes its database again;
               # the login throttle (tested in tests/security/test_login.py) would answer 429 from the sixth
               "GRIDPULSE_LOGIN_FAILURES_PER_ACCOUNT": "50"}
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--only", "app"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            assert wait_for(lambda: _status(base + "/healthz") == 200, 120, 0.5), "the app never became healthy"
            yield base, pg, rd
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def _failed_logins(pg: OwnPostgres) -> int:
    with psycopg.connect(pg.admin_url.rsplit("/", 1)[0] + "/gridpulse") as conn:
        return conn.execute("SELECT count(*) FROM audit_log WHERE action = 'login.failed' AND subject = %s",
                            (f"account:{USER}",)).fetchone()[0]


def _login(base: str) -> int:
    with httpx.Client(timeout=15) as client:
        return failed_login(client, base, USER)


def test_database_stopped_503_then_200_and_the_app_recovers(stack: tuple[str, OwnPostgres, OwnRedis]) -> None:
    base, pg, _ = stack
    assert _login(base) == 401 and _failed_logins(pg) == 1  # the app reads and writes its database

    pg.stop()
    reply = httpx.get(base + "/healthz", timeout=10)
    assert reply.status_code == 503
    assert reply.json()["checks"]["database"].startswith("database unreachable")
    assert reply.json()["checks"]["redis"] == "ok"

    pg.start()
    assert wait_for(lambda: _status(base + "/healthz") == 200, 30)
    # Every gunicorn worker's pool held connections to the server that went away: each must recover.
    assert [_login(base) for _ in range(6)] == [401] * 6
    assert _failed_logins(pg) == 7


def test_redis_stopped_503_then_200(stack: tuple[str, OwnPostgres, OwnRedis]) -> None:
    base, _, rd = stack
    rd.kill_9()
    reply = httpx.get(base + "/healthz", timeout=10)
    assert reply.status_code == 503
    assert reply.json()["checks"]["redis"].startswith("redis unreachable")
    assert reply.json()["checks"]["database"] == "ok"
    rd.start()
    assert wait_for(lambda: _status(base + "/healthz") == 200, 30)
