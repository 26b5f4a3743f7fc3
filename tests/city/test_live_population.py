"""The city's district figures include each district's real-time population (实时人口: the people inside now).

What it means for the command centre: a resident's passage landed in 鼓楼区 by the ingest worker's own writer
moves 鼓楼区's real-time figure on the 全市 page at the next read — down on an exit, up by one on the entry that
follows — and 玄武区's not at all; the totals row sums the districts that answered, and a district that is down
is "unreachable", not a zero in the sum. The figure is read at the district (its maintained counters, its
clock), with the jurisdiction filter and the sum sent down by postgres_fdw. Fixtures: tests/city/conftest.py.
"""
from __future__ import annotations

import datetime as dt

import psycopg
from sqlalchemy import text

from blockdata.db import transaction
from city.kpis import _SQL, district_kpis, totals
from city.servers import refresh
from core.events import uuid7
from core.viewer import Role, Viewer
from ingest.writer import land
from tests.audit import AuditMark
from tests.city.conftest import CITY_ADMIN
from tests.city.districts import DistrictServer

CITY_STREET = Viewer(None, Role.street, ("320100000000",), "city-centre")


def _realtime(viewer: Viewer = CITY_STREET) -> dict[str, int]:
    with transaction() as s:
        return {r.district.code: r.realtime for r in district_kpis(s, viewer).rows}


def _land(server: DistrictServer, label: str, direction: str, ts: dt.datetime) -> None:
    """One open face passage of a known person at the district's gate, landed as the ingest worker lands a batch
    (COPY, insert, rollups; the population's triggers in the same transaction)."""
    event = {"v": "1", "event_id": str(uuid7(int(ts.timestamp() * 1000))), "ts": ts.isoformat(),
             "gate_id": str(server.ids["gate"]), "compound_id": str(server.ids["compound"]), "direction": direction,
             "method": "face", "result": "open", "person_id": str(server.ids[label]), "reason": "ok"}
    with psycopg.connect(server.district_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        assert land(conn, [event]).stored == 1


def test_every_district_s_real_time_population_is_read_and_summed(districts) -> None:  # noqa: ANN001
    with transaction() as s:
        result = district_kpis(s, CITY_STREET)
    # no passage in the last 48 hours: every resident counts as inside, no visitor is
    assert {r.district.code: r.realtime for r in result.rows} == {"320102": 4, "320104": 1, "320106": 3}
    assert totals(result).realtime == 8
    # a district account: its own district's figure only
    assert _realtime(Viewer(None, Role.street, ("320106000000",), "gulou-centre")) == {"320106": 3}


def test_a_landed_passage_moves_its_district_s_figure_and_no_other(districts) -> None:  # noqa: ANN001
    gulou = districts["B"]
    # two hours ago: inside the 48-hour window of the population, outside the last hour's flows other tests count
    ts = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    before = _realtime()
    _land(gulou, "li", "out", ts)                             # 李四 leaves his compound in 鼓楼区
    after_exit = _realtime()
    assert after_exit["320106"] == before["320106"] - 1
    _land(gulou, "li", "in", ts + dt.timedelta(minutes=30))   # … and comes back: an entry
    after_entry = _realtime()
    assert after_entry["320106"] == after_exit["320106"] + 1
    assert before["320102"] == after_exit["320102"] == after_entry["320102"], "玄武区's figure does not move"
    assert before["320104"] == after_entry["320104"]


def test_a_district_that_is_down_is_unreachable_not_zero(districts) -> None:  # noqa: ANN001
    qinhuai = districts["C"]
    qinhuai.stop()
    try:
        with transaction() as s:
            result = district_kpis(s, CITY_STREET)
    finally:
        qinhuai.start()
    assert [d.code for d in result.unreachable] == ["320104"]
    assert "320104" not in {r.district.code for r in result.rows}
    assert totals(result).realtime == sum(r.realtime for r in result.rows) == 4 + 3


def test_the_district_answers_with_its_sum(districts) -> None:  # noqa: ANN001
    """postgres_fdw sends the jurisdiction filter and the sum to the district: one row crosses, not its communities."""
    with transaction() as s:
        plan = "\n".join(s.scalars(text("EXPLAIN (VERBOSE) " + _SQL.format(s="gp_district_320106")),
                                   {"patterns": CITY_STREET.like_patterns}))
    remote = [line.strip() for line in plan.splitlines() if "Remote SQL" in line and "city_community_live" in line]
    assert len(remote) == 1, plan
    assert "sum(" in remote[0] and "~~ ANY" in remote[0], plan


def test_a_district_attached_before_the_view_gets_it_on_refresh(districts) -> None:  # noqa: ANN001
    mark = AuditMark()
    with transaction() as s:
        s.execute(text("DROP FOREIGN TABLE gp_district_320104.city_community_live"))  # as if attached before 0016
        assert refresh(s, CITY_ADMIN, "320104") == ("city_community_live",)
        assert refresh(s, CITY_ADMIN, "320104") == ()  # nothing more to import: not audited again
    assert _realtime()["320104"] == 1
    rows = mark.rows(action="city.refresh")
    assert len(rows) == 1 and rows[0].subject == "district:320104" and rows[0].detail["imported"] == ["city_community_live"]
