"""重点稳控: abnormal movement of a key-control person raises an alert only while a legal basis is in force,
and its order goes to the police's queue — not to the grid worker, not to the supervisor, not onto their maps.

Hard negatives: the same movement by a person whose basis expired yesterday raises nothing; a person
with no key-control tag raises nothing; the worker of the grid cannot close the police's order.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, text

from analytics.sweep import run_rules
from analytics.work_orders import orders_for, record_finding
from core.config import local_tz
from core.errors import AccessDenied
from core.viewer import Role, Viewer
from blockdata.db import transaction
from blockdata.models import Account, Alert, PersonTag, WorkOrder
from layers.alerts import alert_rows
from tests.seeded import seed_tiny_swept

ANCHOR = dt.date(2026, 11, 20)
RULE = "key_control_movement"


def _viewer(acc: Account) -> Viewer:
    return Viewer(acc.id, Role(acc.role), tuple(acc.jurisdiction), acc.username)


@pytest.fixture(scope="module")
def swept(database_url: str) -> dict:
    as_of = seed_tiny_swept(ANCHOR)
    with transaction() as s:
        people = s.execute(text(
            """SELECT p.id, b.grid_id, b.compound_id, (SELECT min(id) FROM gate WHERE compound_id = b.compound_id) AS gate
               FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
               WHERE NOT EXISTS (SELECT 1 FROM person_tag t WHERE t.person_id = p.id)
               ORDER BY p.id LIMIT 3""")).all()
        in_force, expired, untagged = people
        for person, expiry in ((in_force, ANCHOR + dt.timedelta(days=90)), (expired, ANCHOR - dt.timedelta(days=2))):
            s.add(PersonTag(person_id=person.id, tag="key_control", set_by="test", legal_basis="公安机关重点人员管控决定书",
                            legal_basis_expiry=expiry))
        s.flush()
        for person in people:  # the same three nights out, 23:30 local, for all three
            for days_back in (1, 2, 3):
                ts = dt.datetime.combine(ANCHOR - dt.timedelta(days=days_back), dt.time(23, 30), local_tz())
                s.execute(text(
                    """INSERT INTO access_event (event_id, ts, gate_id, compound_id, direction, method, result, person_id)
                       VALUES (:e, :ts, :g, :c, 'out', 'face', 'open', :p)"""),
                    {"e": uuid.uuid4(), "ts": ts, "g": person.gate, "c": person.compound_id, "p": person.id})
        run_rules(s, as_of, names=[RULE])
        grid = s.execute(text("SELECT worker_account_id, supervisor_account_id FROM grid WHERE id = :g"),
                         {"g": in_force.grid_id}).one()
        viewers = {"worker": _viewer(s.get(Account, grid.worker_account_id)),
                   "supervisor": _viewer(s.get(Account, grid.supervisor_account_id)),
                   "police": _viewer(s.scalars(select(Account).where(Account.role == Role.police)).first())}
    return {"in_force": in_force.id, "expired": expired.id, "untagged": untagged.id, "viewers": viewers, "as_of": as_of}


def _alerts(person_id: int) -> list[Alert]:
    with transaction() as s:
        return list(s.scalars(select(Alert).where(Alert.rule == RULE, Alert.subject_id == person_id)))


def test_only_a_basis_in_force_raises_an_alert(swept: dict) -> None:
    alerts = _alerts(swept["in_force"])
    assert len(alerts) == 1 and "night_movement" in alerts[0].evidence["reasons"]
    assert alerts[0].evidence["legal_basis"] == "公安机关重点人员管控决定书"
    assert _alerts(swept["expired"]) == [] and _alerts(swept["untagged"]) == []


def test_the_order_is_in_the_police_queue_only(swept: dict) -> None:
    alert = _alerts(swept["in_force"])[0]
    with transaction() as s:
        order = s.scalars(select(WorkOrder).where(WorkOrder.alert_id == alert.id)).one()
        assert order.assignee_account_id is None and order.kind == RULE
        seen = {role: [o.id for o in orders_for(s, v)] for role, v in swept["viewers"].items()}
        on_map = {role: [r["id"] for r in alert_rows(s, v)] for role, v in swept["viewers"].items()}
    assert order.id in seen["police"]
    assert order.id not in seen["worker"] and order.id not in seen["supervisor"]
    assert alert.id in on_map["police"] and alert.id not in on_map["worker"] and alert.id not in on_map["supervisor"]


def test_the_worker_cannot_close_it_and_the_police_can(swept: dict) -> None:
    alert = _alerts(swept["in_force"])[0]
    with transaction() as s:
        order_id = s.scalars(select(WorkOrder.id).where(WorkOrder.alert_id == alert.id)).one()
    with pytest.raises(AccessDenied), transaction() as s:
        record_finding(s, swept["viewers"]["worker"], order_id, outcome="confirmed", notes="网格员试图办结")
    with transaction() as s:
        record_finding(s, swept["viewers"]["police"], order_id, outcome="confirmed", notes="民警已约谈，行程已报备")
    with transaction() as s:
        assert s.get(WorkOrder, order_id).status.value == "done"
