"""The districts are asked at once, and a slow district costs the city page its timeout, not an error.

What it means for the command centre: a city page costs its slowest district, not the sum of them, and a
district that hangs (here: a table its figures need is locked at the district) is shown as "district N
unreachable" after ``GRIDPULSE_DISTRICT_TIMEOUT_S`` beside the others' figures — the same as one that is down;
its statement is cancelled at the district too, so nothing is left waiting there. The police's cross-district
query degrades the same way and is still audited once. Fixtures: tests/city/conftest.py.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from blockdata.db import transaction
from city import police
from city.federated import on_each
from city.kpis import district_kpis, totals
from city.servers import District, districts as attached
from core.config import city_settings
from core.viewer import Role, Viewer
from tests.audit import AuditMark
from tests.city.conftest import MOVER, at
from tests.city.districts import DISTRICT_DB, DistrictServer

CITY_STREET = Viewer(None, Role.street, ("320100000000",), "city-centre")
CITY_POLICE = Viewer(None, Role.police, ("320100000000",), "city-police-slow")
REASON = "案件 2026-0421 流调"

# At the district: how long a call took, by the district's own clock (the three clusters share this machine's).
_NAP = """
CREATE FUNCTION test_nap() RETURNS TABLE (started timestamptz, ended timestamptz) LANGUAGE plpgsql AS $$
BEGIN started := clock_timestamp(); PERFORM pg_sleep(1); ended := clock_timestamp(); RETURN NEXT; END $$;
CREATE VIEW test_nap AS SELECT * FROM test_nap();
GRANT SELECT ON test_nap TO gridpulse_city;
"""


def _superuser(server: DistrictServer) -> psycopg.Connection:
    return psycopg.connect(f"postgresql://postgres:{server.superuser_password}@127.0.0.1:{server.port}/{DISTRICT_DB}")


@pytest.fixture
def timeout_s() -> Iterator[float]:
    """A short per-district timeout for the test (the default is 5 s)."""
    old = os.environ.get("GRIDPULSE_DISTRICT_TIMEOUT_S")
    os.environ["GRIDPULSE_DISTRICT_TIMEOUT_S"] = "1.5"
    city_settings.cache_clear()
    yield city_settings().district_timeout_s
    if old is None:
        os.environ.pop("GRIDPULSE_DISTRICT_TIMEOUT_S", None)
    else:
        os.environ["GRIDPULSE_DISTRICT_TIMEOUT_S"] = old
    city_settings.cache_clear()


@pytest.fixture
def napping(districts) -> Iterator[list[str]]:  # noqa: ANN001
    """A and B each get a view that sleeps a second at the district; the city reads it as a foreign table."""
    servers = [districts["A"], districts["B"]]
    for server in servers:
        with _superuser(server) as c:
            c.execute(_NAP)
    with transaction() as s:
        for server in servers:
            s.execute(text(f"CREATE FOREIGN TABLE gp_district_{server.code}.test_nap (started timestamptz, "
                           f"ended timestamptz) SERVER gp_district_{server.code} OPTIONS (schema_name 'public', table_name 'test_nap')"))
    yield [server.code for server in servers]
    with transaction() as s:
        for server in servers:
            s.execute(text(f"DROP FOREIGN TABLE gp_district_{server.code}.test_nap"))
    for server in servers:
        with _superuser(server) as c:
            c.execute("DROP VIEW test_nap; DROP FUNCTION test_nap()")


def test_the_districts_parts_run_at_the_same_time(napping: list[str]) -> None:
    with transaction() as s:
        targets = [d for d in attached(s) if d.code in napping]

        def nap(own, d: District):  # noqa: ANN001, ANN202 - a session of the part's own, and its district
            assert own is not s, "each district's part has a session (a connection) of its own"
            return own.execute(text(f"SELECT started, ended FROM {d.schema}.test_nap")).one()

        t0 = time.perf_counter()
        found, down = on_each(s, targets, nap)
        elapsed = time.perf_counter() - t0
    assert down == () and sorted(found) == sorted(napping)
    spans = list(found.values())
    assert all((r.ended - r.started).total_seconds() >= 0.99 for r in spans), "each district slept its second"
    # Each one started before the other ended: the two seconds overlapped (one after the other, the later
    # would have started only once the earlier had ended).
    assert max(r.started for r in spans) < min(r.ended for r in spans)
    overlap = (min(r.ended for r in spans) - max(r.started for r in spans)).total_seconds()
    assert overlap > 0.5, f"the two naps overlapped by {overlap:.2f} s only"
    # one after another they could not take less than 2 s
    assert elapsed < 2.0, f"two one-second districts took {elapsed:.2f} s"


@pytest.fixture
def gulou_hangs(districts) -> Iterator[DistrictServer]:  # noqa: ANN001
    """鼓楼区 (B) hangs: its person table is locked at the district for as long as the test runs."""
    server = districts["B"]
    holder = _superuser(server)
    holder.execute("BEGIN; LOCK TABLE person IN ACCESS EXCLUSIVE MODE")
    yield server
    holder.rollback()
    holder.close()


def _city_queries_waiting_at(server: DistrictServer) -> int:
    with _superuser(server) as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gridpulse-city' "
                         "AND state = 'active'").fetchone()[0]


def test_a_district_that_hangs_costs_its_timeout_and_is_named(timeout_s: float, gulou_hangs: DistrictServer) -> None:
    t0 = time.perf_counter()
    with transaction() as s:
        result = district_kpis(s, CITY_STREET)
    elapsed = time.perf_counter() - t0
    assert sorted(r.district.code for r in result.rows) == ["320102", "320104"]
    assert [d.code for d in result.unreachable] == ["320106"]
    assert result.notices[0].startswith("district 320106 unreachable") and "鼓楼区" in result.notices[0]
    assert totals(result).residents == 4 + 1  # A and C; B's 3 are not guessed
    assert timeout_s <= elapsed < timeout_s + 1.5, f"the page waited {elapsed:.2f} s for a hung district"
    # the statement was cancelled at the district as well: nothing of the city's is left waiting on the lock
    deadline = time.monotonic() + 5
    while _city_queries_waiting_at(gulou_hangs) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _city_queries_waiting_at(gulou_hangs) == 0


def test_the_police_query_degrades_the_same_way_and_is_audited_once(timeout_s: float, gulou_hangs) -> None:  # noqa: ANN001
    mark = AuditMark()
    with transaction() as s:
        found = police.co_presence(s, CITY_POLICE, MOVER, reason=REASON, start=at(0, 12, 0), end=at(1, 20, 0))
    assert [d.code for d in found.unreachable] == ["320106"]
    assert {(c.name, c.districts) for c in found.rows} == {("张三", ("320102",)), ("赵六", ("320102",))}
    rows = mark.rows(username="city-police-slow")
    assert [r.action for r in rows] == ["city.co_presence"]
    assert rows[0].detail["unreachable"] == ["320106"] and rows[0].detail["districts"] == ["320102"]


def test_a_district_back_from_hanging_answers_again(districts) -> None:  # noqa: ANN001
    with transaction() as s:
        result = district_kpis(s, CITY_STREET)
    assert result.unreachable == () and sorted(r.district.code for r in result.rows) == ["320102", "320104", "320106"]
