"""Issue #16 item 16: every refusal is audited, every read that returns people names who they were.

Attacks, against the real services: a resident's app probes other residents' dwellings, grants and
passes (403/404), sends a forged or no token (401); a grid worker closes someone else's work order
through a crafted dashboard callback. Each must leave its own audit line — selected by what the test
did, not any line of the shared log.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, text

from core.passwords import hash_password
from core.viewer import Role
from blockdata import queries
from blockdata.db import transaction
from blockdata.models import Account, AuditLog, WorkOrder
from residents.app_tokens import mint
from tests import places as P
from tests.browser import http_login
from tests.security.dashboard_app import audit_since, callback, dashboard, last_audit_id, shown
from tests.security.residents_world import Residents, residents_api

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def residents(database_url: str):  # noqa: ANN201
    with residents_api({}) as r:
        yield r


def _resident_rows(first: int, pid: object) -> list[AuditLog]:
    return audit_since(first, username=f"resident:{pid}")


def test_a_residents_probes_of_other_peoples_things_are_each_audited(residents: Residents) -> None:
    owner, pid = residents.client("owner"), residents.pids["owner"]
    b1 = residents.world.dwellings["b1"]  # the outsider's dwelling
    first = last_audit_id()
    probes = [
        ("GET", f"/v1/me/dwellings/{b1}/grants", 403),
        ("DELETE", "/v1/me/grants/2147483000", 404),
        ("DELETE", f"/v1/me/visitor-passes/{uuid.uuid4()}", 404),
    ]
    for method, path, status in probes:
        assert owner.request(method, path).status_code == status
    rows = _resident_rows(first, pid)
    assert [(r.action, r.subject, r.detail["status"]) for r in rows] == [
        ("access.denied", f"api:GET /v1/me/dwellings/{b1}/grants", 403),
        ("access.not_found", "api:DELETE /v1/me/grants/2147483000", 404),
        ("access.not_found", f"api:DELETE {probes[2][1]}", 404),
    ]


def test_a_bad_token_and_an_unknown_resident_are_audited(residents: Residents) -> None:
    import httpx

    first = last_audit_id()
    forged = httpx.get(residents.url + "/v1/me", headers={"Authorization": "Bearer not.a.token"}, timeout=20)
    assert forged.status_code == 401
    stranger = uuid.uuid4()
    unknown = httpx.get(residents.url + "/v1/me", headers={"Authorization": f"Bearer {mint(stranger)}"}, timeout=20)
    assert unknown.status_code == 404
    assert [(r.action, r.subject) for r in audit_since(first, username="resident:unknown")] == [
        ("access.unauthenticated", "api:GET /v1/me")]
    assert [(r.action, r.subject) for r in _resident_rows(first, stranger)] == [("access.not_found", "api:GET /v1/me")]


# --- the dashboard: a refused work-order finding ------------------------------------------------------


@pytest.fixture(scope="module")
def order(places: P.Places) -> dict:
    """A work order of grid A1 assigned to its worker; another worker of grid A2 will try to close it."""
    with transaction() as s:
        for name in ("sec-wo-a1", "sec-wo-a2"):
            s.execute(text("DELETE FROM account WHERE username = :u"), {"u": name})
        owner = Account(username="sec-wo-a1", display_name="w", role=Role.worker, jurisdiction=[P.COMMUNITY_A + "001"],
                        password_hash=hash_password("sec-wo-pass-1"))
        other = Account(username="sec-wo-a2", display_name="w", role=Role.worker, jurisdiction=[P.COMMUNITY_A + "002"],
                        password_hash=hash_password("sec-wo-pass-1"))
        s.add_all([owner, other])
        s.flush()
        wo = WorkOrder(kind="departure", grid_id=places.grid_a1, assignee_account_id=owner.id,
                       due_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2))
        s.add(wo)
        s.flush()
        return {"order": wo.id}


def test_a_crafted_finding_on_someone_elses_order_is_refused_and_audited(order: dict) -> None:
    with dashboard() as url:
        http = http_login(url, "sec-wo-a2", "sec-wo-pass-1", "/orders")
        deps = http.get(url + "/_dash-dependencies", timeout=20).json()
        output = next(d["output"] for d in deps if '"type":"result"' in d["output"].replace(" ", ""))
        ident = {"order": order["order"], "type": "submit"}
        first = last_audit_id()
        o = order["order"]
        states = {"action": "dismissed", "notes": "没人", "name": None, "id_number": None, "residence_kind": None,
                  "address": None, "other_address": None, "state": None}
        answer = callback(http, url, output,
                          [{"id": {"order": o, "type": "result"}, "property": "children"},
                           {"id": {"order": o, "type": "notes"}, "property": "value"}],
                          [{"id": ident, "property": "n_clicks", "value": 1}],
                          [{"id": ident, "property": "id", "value": ident}]
                          + [{"id": {"order": o, "type": k}, "property": "value", "value": v} for k, v in states.items()])
    assert answer.status_code == 200 and "未提交" in shown(answer)
    rows = audit_since(first, "access.denied", "sec-wo-a2")
    assert [r.subject for r in rows] == [f"work_order:{order['order']}"]
    with transaction() as s:
        assert s.get(WorkOrder, order["order"]).status.value == "assigned"  # nothing changed


def test_a_read_of_a_dwellings_people_names_who_they_were(places: P.Places) -> None:
    from core.viewer import Viewer

    viewer = Viewer(None, Role.supervisor, (P.COMMUNITY_A,), "sec-reader")
    first = last_audit_id()
    with transaction() as s:
        people = queries.dwelling_people(s, viewer, places.dwelling_a1)
    rows = audit_since(first, "dwelling.people", "sec-reader")
    assert [p.id for p in people] == [places.person_a]
    assert [(r.subject, r.detail["people"]) for r in rows] == [(f"dwelling:{places.dwelling_a1}", [places.person_a])]
