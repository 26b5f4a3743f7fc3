"""Issue #16 items 12-14: what each role may see of a person, attacked through the real app's callbacks.

- 12: every role but police asks for a person's gate passages (the drill-down's history callback,
  crafted); police without a reason; police of another community; passages at gates outside the
  police officer's jurisdiction.
- 13: an expired legal basis still showing its tag; supervision tags shown to roles without the duty.
- 14: a relation that ended still opening a person; breadcrumbs naming a home outside the jurisdiction.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
import requests
from sqlalchemy import text

from core.viewer import Role
from blockdata import registry
from blockdata.db import transaction
from blockdata.models import GateKind, PersonTag, PersonTagKind, Relation, RelationKind
from tests import places as P
from tests.places import cell
from tests.security.dashboard_app import (audit_since, callback, dashboard, drill, last_audit_id, login, make_accounts,
                                          shown)
from tests.browser import http_login
from core.passwords import hash_password
from blockdata.models import Account

pytestmark = pytest.mark.browser
REASON = "案件 2026-0412 走访核查"
TODAY = dt.date.today()


@pytest.fixture(scope="module")
def street(places: P.Places) -> dict:
    """Person A lives in community A and passes its compound's gate three times, and once a gate in
    community B; person B lives in B and once rented in A (ended last year)."""
    users = make_accounts()
    with transaction() as s:
        s.add(Account(username="sec-police-b", display_name="p", role=Role.police, jurisdiction=[P.COMMUNITY_B],
                      password_hash=hash_password("sec-test-pass-8841")))
        s.add(Account(username="sec-police-a", display_name="p", role=Role.police, jurisdiction=[P.COMMUNITY_A],
                      password_hash=hash_password("sec-test-pass-8841")))
        b_compound = registry.add_compound(s, code="XW-C101", name="乙小区", community_code=P.COMMUNITY_B,
                                           geom=cell(0.002, 0.012, 0.005))
        registry.add_gate(s, code="XW-C101-G1", name="乙北门", kind=GateKind.pedestrian, compound_id=b_compound.id,
                          geom=cell(0.004, 0.014, 0.0001).centroid)
        s.execute(text("SELECT gp_ensure_event_partitions(current_date - 3, current_date + 1)"))
        gates = dict(s.execute(text("SELECT code, id FROM gate")).all())
        compounds = dict(s.execute(text("SELECT code, id FROM compound")).all())
        for i, (gate, compound) in enumerate([("XW-C001-G1", "XW-C001")] * 3 + [("XW-C101-G1", "XW-C101")]):
            s.execute(text(
                """INSERT INTO access_event (event_id, ts, gate_id, compound_id, direction, method, result, person_id)
                   VALUES (gen_random_uuid(), now() - make_interval(hours => :h), :g, :c, 'in', 'face', 'open', :p)"""),
                {"h": i + 1, "g": gates[gate], "c": compounds[compound], "p": places.person_a})
        s.add(PersonTag(person_id=places.person_a, tag=PersonTagKind.community_correction, set_by="test",
                        legal_basis="(2025)玄矫字第 12 号", legal_basis_expiry=TODAY - dt.timedelta(days=1)))
        s.add(PersonTag(person_id=places.person_a, tag=PersonTagKind.key_control, set_by="test",
                        legal_basis="玄公(2026)重管 3 号", legal_basis_expiry=TODAY + dt.timedelta(days=90)))
        s.add(Relation(person_id=places.person_b, kind=RelationKind.rents, dwelling_id=places.dwelling_a1,
                       source="rental_record", confidence=0.9, valid_from=dt.date(2023, 1, 1),
                       valid_to=TODAY - dt.timedelta(days=200)))
    return {"users": users, "a": places.person_a, "b": places.person_b, "places": places}


@pytest.fixture(scope="module")
def server(street: dict):  # noqa: ANN201
    with dashboard() as url:
        yield url


def history(http: requests.Session, url: str, person: int, reason: str | None) -> requests.Response:
    return callback(http, url, "drill-history-box.children", {"id": "drill-history-box", "property": "children"},
                    [{"id": "history-show", "property": "n_clicks", "value": 1}],
                    [{"id": "history-reason", "property": "value", "value": reason},
                     {"id": "drill-url", "property": "search", "value": f"?place=person:{person}"}], ["history-show.n_clicks"])


def _history_rows(answer: requests.Response) -> list[list[str]]:
    """The table's data rows as the page would show them (time, place, gate, …)."""
    table = _find(answer.json()["response"]["drill-history-box"]["children"], "drill-history")
    assert table is not None, shown(answer)
    rows = [tr["props"]["children"] for tr in table["props"]["children"][1:]]
    return [[td["props"]["children"] for td in row] for row in rows]


def _find(node: object, ident: str) -> dict | None:
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == ident:
            return node
        return _find(node.get("props", {}).get("children"), ident)
    if isinstance(node, list):
        for child in node:
            found = _find(child, ident)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize("role", ["admin", "street", "supervisor", "worker"])
def test_movement_history_is_refused_to_every_role_but_police(server: str, street: dict, role: str) -> None:
    user = street["users"][role]
    http = login(server, user)
    page = drill(http, server, f"person:{street['a']}")
    assert page.status_code == 200 and "drill-history-note" in shown(page) and "history-show" not in shown(page)
    assert "王" in shown(page)  # they do see that the person lives there (masked by role as before)
    first = last_audit_id()
    answer = history(http, server, street["a"], REASON)  # the crafted call, reason and all
    assert "未查询" in shown(answer) and "drill-history\"" not in shown(answer) and "南门" not in shown(answer)
    refusals = audit_since(first, "access.denied", user)
    assert [r.subject for r in refusals] == [f"person:{street['a']}"]
    assert audit_since(first, "person.access_history", user) == []


def test_police_see_movement_only_with_a_reason_and_only_inside_their_jurisdiction(server: str, street: dict) -> None:
    police_a = http_login(server, "sec-police-a", "sec-test-pass-8841")
    first = last_audit_id()
    for missing in (None, "", "  ", "查"):
        assert "未查询" in shown(history(police_a, server, street["a"], missing))
    assert len(audit_since(first, "access.denied", "sec-police-a")) == 4
    answer = history(police_a, server, street["a"], REASON)
    rows = _history_rows(answer)
    assert len(rows) == 3 and {r[2] for r in rows} == {"南门"}  # community B's gate is outside community A's police
    read = audit_since(first, "person.access_history", "sec-police-a")
    assert [(r.subject, r.reason, r.detail["count"]) for r in read] == [(f"person:{street['a']}", REASON, 3)]
    # the street's police see both compounds' gates
    assert len(_history_rows(history(login(server, street["users"]["police"]), server, street["a"], REASON))) == 4
    # police of community B: person A has no home or tie there
    police_b = http_login(server, "sec-police-b", "sec-test-pass-8841")
    first = last_audit_id()
    assert "未查询" in shown(history(police_b, server, street["a"], REASON))
    assert [r.subject for r in audit_since(first, "access.denied", "sec-police-b")] == [f"person:{street['a']}"]


def test_tags_follow_their_legal_basis_and_the_roles_duty(server: str, street: dict) -> None:
    def tags(role_or_user: str) -> str:
        user = street["users"].get(role_or_user, role_or_user)
        http = login(server, user) if role_or_user in street["users"] else http_login(server, user, "sec-test-pass-8841")
        person = _find(drill(http, server, f"person:{street['a']}").json()["response"]["drill-detail"]["children"],
                       "drill-person")
        return json.dumps(person, ensure_ascii=False)

    police = tags("police")
    assert "key_control" in police and "elderly_alone" in police
    assert "community_correction" not in police  # its legal basis expired yesterday
    for role in ("supervisor", "worker", "street", "admin"):
        seen = tags(role)
        assert "elderly_alone" in seen, role
        assert "key_control" not in seen and "community_correction" not in seen, role


def test_an_ended_relation_does_not_open_a_person(server: str, street: dict) -> None:
    user = street["users"]["supervisor"]  # community A; person B lives in B and rented in A until 200 days ago
    http = login(server, user)
    first = last_audit_id()
    answer = drill(http, server, f"person:{street['b']}")
    assert "无权查看" in shown(answer) and "李" not in shown(answer)
    assert [r.subject for r in audit_since(first, "access.denied", user)] == [f"person:{street['b']}"]


def test_breadcrumbs_never_name_a_home_outside_the_jurisdiction(server: str, street: dict) -> None:
    user = street["users"]["supervisor"]
    with transaction() as s:  # person B now rents in A again: A's supervisor may open them, not learn where they live
        s.add(Relation(person_id=street["b"], kind=RelationKind.rents, dwelling_id=street["places"].dwelling_a1,
                       source="rental_record", confidence=0.9, valid_from=TODAY - dt.timedelta(days=10)))
    try:
        answer = drill(login(server, user), server, f"person:{street['b']}")
        crumbs = json.dumps(answer.json()["response"]["breadcrumbs"]["children"], ensure_ascii=False)
        assert "李" in crumbs  # the person's own crumb
        for outside in ("乙社区", "乙一网格", "101幢", "1102"):
            assert outside not in crumbs, outside
        assert "甲社区" in crumbs and "301" in crumbs  # through the dwelling they hold inside the jurisdiction
        # the street (both communities) sees the home
        home = json.dumps(drill(login(server, street["users"]["street"]), server, f"person:{street['b']}")
                          .json()["response"]["breadcrumbs"]["children"], ensure_ascii=False)
        assert "乙一网格" in home and "1102" in home
    finally:
        with transaction() as s:
            s.execute(text("DELETE FROM relation WHERE person_id = :p AND valid_to IS NULL AND dwelling_id = :d"),
                      {"p": street["b"], "d": street["places"].dwelling_a1})
