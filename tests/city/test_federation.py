"""A city over three district servers (issue #21, item 6), read through postgres_fdw.

What it means for the command centre and the police: a city query returns the union of the districts; a
district that is down yields the others' rows and "district N unreachable", not an error; a district account
sees its own district and nothing of the others; a person who moves between districts is one person to the
city (the same keyed hash of his ID number everywhere), so his companions and the nights he spent are found
across districts — and a namesake, another district's gate at the same moment, or a night he left for another
district are not counted. Fixtures: tests/city/conftest.py (who did what, where, when).
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from blockdata.db import transaction
from blockdata.identity import check_digit, hash_id_number, mask_id_number
from city.kpis import district_kpis, totals
from city import police
from city.servers import DistrictUnreachable, attach, detach, districts as attached
from core.config import load_secrets
from core.errors import AccessDenied, DuplicateCode, InvalidInput, NotFound
from core.viewer import Role, Viewer
from tests.audit import AuditMark
from tests.city.conftest import AS_OF, CITY_ADMIN, MOVER, ZHAO, at
from tests.browser import free_port

REASON = "案件 2026-0421 流调"
CITY_STREET = Viewer(None, Role.street, ("320100000000",), "city-centre")
CITY_POLICE = Viewer(None, Role.police, ("320100000000",), "city-police")
XUANWU_POLICE = Viewer(None, Role.police, ("320102000000",), "xuanwu-police")
GULOU_POLICE = Viewer(None, Role.police, ("320106000000",), "gulou-police")
QINHUAI_POLICE = Viewer(None, Role.police, ("320104000000",), "qinhuai-police")
WINDOW = {"start": at(0, 12, 0), "end": at(1, 20, 0)}


def _kpis(viewer: Viewer):  # noqa: ANN202 - a CityResult
    with transaction() as s:
        return district_kpis(s, viewer)


def test_a_city_query_returns_the_union_of_the_districts(districts) -> None:  # noqa: ANN001
    result = _kpis(CITY_STREET)
    by = {r.district.code: r for r in result.rows}
    assert sorted(by) == ["320102", "320104", "320106"] and result.unreachable == ()
    # residents with a home in the district (B's tenant 王强 lives in A); flows of the last hour only
    assert (by["320102"].residents, by["320106"].residents, by["320104"].residents) == (4, 3, 1)
    assert [(by[c].entries_hour, by[c].exits_hour) for c in ("320102", "320106", "320104")] == [(5, 3), (7, 2), (11, 4)]
    city = totals(result)
    assert (city.residents, city.entries_hour, city.exits_hour) == (8, 23, 9)


def test_a_district_account_sees_only_its_district(districts) -> None:  # noqa: ANN001
    only_b = _kpis(Viewer(None, Role.street, ("320106000000",), "gulou-centre"))
    assert [r.district.code for r in only_b.rows] == ["320106"] and only_b.rows[0].residents == 3
    # a street of 玄武区 with nothing in it: the district is asked, its figures are that street's (none)
    other_street = _kpis(Viewer(None, Role.street, ("320102002000",), "xuanwu-street-2"))
    assert [(r.district.code, r.residents, r.entries_hour) for r in other_street.rows] == [("320102", 0, 0)]
    # another city's account reaches no district at all
    assert _kpis(Viewer(None, Role.street, ("320200000000",), "wuxi")).rows == []


def test_a_district_outage_yields_the_others_and_a_notice(districts) -> None:  # noqa: ANN001
    qinhuai = districts["C"]
    qinhuai.stop()
    try:
        result = _kpis(CITY_STREET)
        assert sorted(r.district.code for r in result.rows) == ["320102", "320106"]
        assert [d.code for d in result.unreachable] == ["320104"]
        assert result.notices[0].startswith("district 320104 unreachable") and "秦淮区" in result.notices[0]
        assert totals(result).residents == 7
        # the police's cross-district query degrades the same way (the mover is not known in C anyway)
        with transaction() as s:
            found = police.co_presence(s, CITY_POLICE, MOVER, reason=REASON, **WINDOW)
        assert [d.code for d in found.unreachable] == ["320104"] and len(found.rows) == 3
    finally:
        qinhuai.start()
    assert sorted(r.district.code for r in _kpis(CITY_STREET).rows) == ["320102", "320104", "320106"]


def test_a_district_holding_half_the_answer_is_named_while_the_other_half_is_shown(districts) -> None:  # noqa: ANN001
    gulou = districts["B"]
    gulou.stop()
    try:
        with transaction() as s:
            found = police.co_presence(s, CITY_POLICE, MOVER, reason=REASON, **WINDOW)
        assert [d.code for d in found.unreachable] == ["320106"]
        assert {(c.name, c.districts) for c in found.rows} == {("张三", ("320102",)), ("赵六", ("320102",))}
    finally:
        gulou.start()


def test_the_mover_s_companions_are_found_across_districts(districts) -> None:  # noqa: ANN001
    mark = AuditMark()
    with transaction() as s:
        found = police.co_presence(s, CITY_POLICE, MOVER, reason=REASON, **WINDOW)
    rows = {c.name: c for c in found.rows}
    # 赵六 met him in both districts: one person (one hash), two encounters; his namesake came 15 minutes later,
    # 孙七 passed another district's gate at the same minute: neither is a companion
    assert sorted(rows) == ["张三", "李四", "赵六"]
    assert rows["赵六"].districts == ("320102", "320106") and rows["赵六"].encounters == 2
    assert rows["赵六"].id_masked == mask_id_number(ZHAO)
    assert rows["张三"].districts == ("320102",) and rows["李四"].districts == ("320106",)
    assert rows["张三"].closest_seconds == 60.0
    audit = mark.rows(action="city.co_presence", username="city-police")
    assert len(audit) == 1 and audit[0].reason == REASON
    assert audit[0].detail["districts"] == ["320102", "320106"] and audit[0].detail["results"] == 3
    assert MOVER not in str(audit[0].detail) and MOVER not in audit[0].subject


def test_a_district_police_account_sees_only_its_district(districts) -> None:  # noqa: ANN001
    with transaction() as s:
        xuanwu = police.co_presence(s, XUANWU_POLICE, MOVER, reason=REASON, **WINDOW)
        gulou = police.co_presence(s, GULOU_POLICE, MOVER, reason=REASON, **WINDOW)
    assert [d.code for d in xuanwu.queried] == ["320102"]
    assert {(c.name, c.encounters) for c in xuanwu.rows} == {("张三", 1), ("赵六", 1)}
    # he rents in 鼓楼区: its police may ask, and get 鼓楼区's passages only
    assert {(c.name, c.districts) for c in gulou.rows} == {("李四", ("320106",)), ("赵六", ("320106",))}
    mark = AuditMark()
    with pytest.raises(NotFound), transaction() as s:  # 秦淮区 does not know him, and its police ask no one else
        police.co_presence(s, QINHUAI_POLICE, MOVER, reason=REASON, **WINDOW)
    assert [r.detail["districts"] for r in mark.rows(action="city.lookup", username="qinhuai-police")] == [["320104"]]
    other_street = Viewer(None, Role.police, ("320102002000",), "xuanwu-street-2-police")
    with pytest.raises(AccessDenied), transaction() as s:  # 玄武区 knows him, but his home is in another street
        police.footholds(s, other_street, MOVER, reason=REASON)
    denied = mark.rows(action="access.denied", username="xuanwu-street-2-police")
    assert len(denied) == 1 and denied[0].detail["districts"] == ["320102"] and denied[0].reason == REASON


def test_footholds_take_each_night_s_last_passage_in_any_district(districts) -> None:  # noqa: ANN001
    with transaction() as s:
        city = police.footholds(s, CITY_POLICE, MOVER, reason=REASON, days=10, as_of=AS_OF)
        xuanwu = police.footholds(s, XUANWU_POLICE, MOVER, reason=REASON, days=10, as_of=AS_OF)
    # night 3 he entered 鼓楼区 at 22:10 and 玄武区 at 23:40: 玄武区's; night 4 he left 玄武区 at 22:30 for 鼓楼区
    assert [(f.district, f.compound_code, f.nights, f.share) for f in city.rows] == [
        ("320102", "C320102", 3, 0.6), ("320106", "C320106", 2, 0.4)]
    assert city.rows[0].district_name == "玄武区"
    # 玄武区's police see 玄武区's passages only: the same three nights, and nothing of 鼓楼区
    assert [(f.district, f.nights, f.share) for f in xuanwu.rows] == [("320102", 3, 1.0)]
    with transaction() as s:  # a window that ends before the nights: nothing
        assert police.footholds(s, CITY_POLICE, MOVER, reason=REASON, days=1, as_of=at(0, 20, 0)).rows == []


def test_the_id_number_is_hashed_the_same_way_in_every_district(districts) -> None:  # noqa: ANN001
    expected = hash_id_number(load_secrets().id_hash_key, MOVER)
    with transaction() as s:
        in_a = s.execute(text("SELECT id, id_hash FROM gp_district_320102.person WHERE name = '王强'")).one()
        in_b = s.execute(text("SELECT id, id_hash FROM gp_district_320106.person WHERE name = '王强'")).one()
    assert bytes(in_a.id_hash) == bytes(in_b.id_hash) == expected
    # a lower-case x, surrounding spaces: the same number, the same hash (validated before hashing)
    assert hash_id_number(load_secrets().id_hash_key, f" {MOVER.lower()} ") == expected


def test_bad_requests_are_refused_and_change_nothing(districts) -> None:  # noqa: ANN001
    mark = AuditMark()
    with pytest.raises(InvalidInput, match="reason"), transaction() as s:
        police.co_presence(s, CITY_POLICE, MOVER, reason="  ", **WINDOW)
    with pytest.raises(InvalidInput, match="check digit"), transaction() as s:
        police.co_presence(s, CITY_POLICE, MOVER[:17] + ("0" if MOVER[17] != "0" else "1"), reason=REASON, **WINDOW)
    with pytest.raises(InvalidInput, match="at most 7 days"), transaction() as s:
        police.co_presence(s, CITY_POLICE, MOVER, reason=REASON, start=AS_OF - dt.timedelta(days=8), end=AS_OF)
    assert mark.rows(username="city-police") == []
    with pytest.raises(AccessDenied), transaction() as s:
        police.footholds(s, Viewer(None, Role.street, ("320100000000",), "city-centre"), MOVER, reason=REASON)
    assert [r.action for r in mark.rows(username="city-centre")] == ["access.denied"]
    stranger = "32010219990101123"
    with pytest.raises(NotFound), transaction() as s:
        police.co_presence(s, CITY_POLICE, stranger + check_digit(stranger), reason=REASON, **WINDOW)
    assert [r.detail["found"] for r in mark.rows(action="city.lookup", username="city-police")] == [False]


def test_attaching_checks_its_input_and_leaves_nothing_half_done(districts) -> None:  # noqa: ANN001
    def servers() -> list[str]:
        with transaction() as s:
            return list(s.scalars(text("SELECT srvname FROM pg_foreign_server ORDER BY srvname")))

    before = servers()
    with pytest.raises(InvalidInput, match="county code"), transaction() as s:
        attach(s, CITY_ADMIN, code="320100", name="南京市", host="127.0.0.1", port=5432, dbname="gp_district")
    with pytest.raises(InvalidInput, match="host"), transaction() as s:
        attach(s, CITY_ADMIN, code="320113", name="栖霞区", host="db'; DROP", port=5432, dbname="gp_district")
    with pytest.raises(DuplicateCode), transaction() as s:
        attach(s, CITY_ADMIN, code="320102000000", name="玄武区", host="127.0.0.1", port=districts["A"].port,
               dbname="gp_district")
    with pytest.raises(DistrictUnreachable), transaction() as s:  # nobody listens there
        attach(s, CITY_ADMIN, code="320113", name="栖霞区", host="127.0.0.1", port=free_port(), dbname="gp_district")
    with pytest.raises(NotFound), transaction() as s:
        detach(s, CITY_ADMIN, "320113")
    assert servers() == before
    with transaction() as s:
        assert not s.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = 'gp_district_320113'")).first()
        assert [d.code for d in attached(s)] == ["320102", "320104", "320106"]


def test_the_command_line_lists_and_checks_the_districts(districts, capsys) -> None:  # noqa: ANN001
    import json

    from cli import main

    assert main(["city", "list", "--check"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["code"], d["name"], d["reachable"]) for d in lines] == [
        ("320102", "玄武区", True), ("320104", "秦淮区", True), ("320106", "鼓楼区", True)]
    districts["C"].stop()
    try:
        assert main(["city", "list", "--check"]) == 1
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [d["reachable"] for d in lines] == [True, False, True]
    finally:
        districts["C"].start()
    assert main(["city", "attach", "320100", "--name", "x", "--host", "127.0.0.1"]) == 2
    assert "county code" in capsys.readouterr().err
