"""Alert → work order → doorstep finding → corrected record with provenance; police queries; population."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from analytics import police
from analytics.alerts import dismissals_per_rule
from analytics.population import realtime_population
from analytics.sweep import run_rules
from analytics.work_orders import escalate_overdue, orders_for, record_finding
from core.errors import AccessDenied, InvalidInput
from core.viewer import Role, Viewer
from blockdata.db import transaction
from blockdata.models import Alert, AuditLog, Grid, Person, Relation, RelationKind, ResidenceKind, WorkOrder
from tests.audit import AuditMark
from tests import analytics_cases as C
from tests import places as P

AS_OF = C.AS_OF
D = dt.timedelta


@pytest.fixture
def world(database_url: str) -> dict:
    with transaction() as s:
        places = P.build(s)
        gate_id, compound_id = P.compound_gate(s)
        worker_id = C.account(s, "worker-a1", "worker", [P.COMMUNITY_A + "001"])
        supervisor_id = C.account(s, "sup-a", "supervisor", [P.COMMUNITY_A])
        grid = s.get(Grid, places.grid_a1)
        grid.worker_account_id, grid.supervisor_account_id = worker_id, supervisor_id
        leaver = C.person(s, places.dwelling_a1, "离开者", kind=ResidenceKind.floating, expiry=dt.date(2027, 1, 10))
        s.add(Relation(person_id=leaver, kind=RelationKind.lives_in, dwelling_id=places.dwelling_a1, source="registration",
                       confidence=0.9, valid_from=dt.date(2025, 1, 1)))
        C.event(s, AS_OF - D(days=10), gate_id, person_id=leaver, compound_id=compound_id)
    return {"places": places, "gate": gate_id, "compound": compound_id, "worker": worker_id, "supervisor": supervisor_id,
            "leaver": leaver}


def worker_viewer(world: dict) -> Viewer:
    return Viewer(world["worker"], Role.worker, (P.COMMUNITY_A + "001",), "worker-a1")


def test_the_work_order_loop_end_to_end(world: dict) -> None:
    with transaction() as s:
        first = run_rules(s, AS_OF, names=["departure"])
    assert first["rules"]["departure"]["new_alerts"] == 1 and first["rules"]["departure"]["work_orders"] == 1
    with transaction() as s:
        again = run_rules(s, AS_OF + D(hours=1), names=["departure"])
        assert again["rules"]["departure"] == again["rules"]["departure"] | {"new_alerts": 0, "refreshed": 1, "work_orders": 0}
        alert = s.scalars(select(Alert).where(Alert.rule == "departure")).one()
        assert alert.fired_count == 2 and alert.status.value == "dispatched"
        orders = orders_for(s, worker_viewer(world))
        assert [o.alert_id for o in orders] == [alert.id]
        order_id = orders[0].id
        assert orders[0].due_at == AS_OF + D(days=7)  # low severity
    # Someone else's grid worker cannot close it; bad findings are refused and change nothing.
    stranger = Viewer(999, Role.worker, (P.COMMUNITY_B + "001",), "worker-b1")
    with pytest.raises(AccessDenied):
        with transaction() as s:
            record_finding(s, stranger, order_id, outcome="confirmed", notes="x")
    with pytest.raises(InvalidInput, match="needs the correction"):
        with transaction() as s:
            record_finding(s, worker_viewer(world), order_id, outcome="corrected", notes="已搬走")
    mark = AuditMark()
    with transaction() as s:
        record_finding(s, worker_viewer(world), order_id, outcome="corrected", notes="邻居证实已于11月初搬离",
                       correction={"kind": "person_departed", "person_id": world["leaver"]}, now=AS_OF + D(hours=3))
    with transaction() as s:
        person = s.get(Person, world["leaver"])
        assert person.home_dwelling_id is None
        rel = s.scalars(select(Relation).where(Relation.person_id == world["leaver"])).one()
        assert rel.valid_to == (AS_OF + D(hours=3)).date()
        order = s.get(WorkOrder, order_id)
        assert order.status.value == "done" and order.outcome == "corrected"
        assert order.correction["source"] == f"work_order:{order_id}"
        assert s.get(Alert, order.alert_id).status.value == "closed"
        with pytest.raises(InvalidInput, match="already done"):
            record_finding(s, worker_viewer(world), order_id, outcome="confirmed", notes="again")
    findings = [a for a in mark.rows(subject=f"work_order:{order_id}") if "outcome" in a.detail]
    assert [(a.username, a.detail["outcome"]) for a in findings] == [(worker_viewer(world).username, "corrected")]


def test_dismissal_is_counted_and_quiets_the_same_finding_for_a_while(world: dict) -> None:
    with transaction() as s:
        run_rules(s, AS_OF, names=["departure"])
        order = orders_for(s, worker_viewer(world))[0]
        record_finding(s, worker_viewer(world), order.id, outcome="dismissed", notes="出差，下周回来", now=AS_OF)
    with transaction() as s:
        report = run_rules(s, AS_OF + D(days=1), names=["departure"])
        assert report["rules"]["departure"]["suppressed_after_dismissal"] == 1
        assert report["rules"]["departure"]["new_alerts"] == 0
        assert dismissals_per_rule(s) == {"departure": 1}
        later = run_rules(s, AS_OF + D(days=8), names=["departure"])
        assert later["rules"]["departure"]["new_alerts"] == 1


def test_overdue_orders_escalate_to_the_supervisor(world: dict) -> None:
    with transaction() as s:
        run_rules(s, AS_OF, names=["departure"])
        assert escalate_overdue(s, AS_OF + D(days=6)) == 0
        assert escalate_overdue(s, AS_OF + D(days=7, hours=1)) == 1
        order = s.scalars(select(WorkOrder)).one()
        assert order.escalation_level == 1 and order.assignee_account_id == world["supervisor"]
        assert escalate_overdue(s, AS_OF + D(days=7, hours=2)) == 0  # not again within the next due period
        assert escalate_overdue(s, AS_OF + D(days=14, hours=1)) == 1


def test_register_stranger_correction_creates_a_person_with_provenance(world: dict) -> None:
    pl = world["places"]
    with transaction() as s:
        for day in range(5):
            C.event(s, AS_OF - D(days=day, hours=14), world["gate"], direction="in", result="deny",  # evenings
                    compound_id=world["compound"], stranger_id=__import__("uuid").UUID(int=42 | (7 << 76)))
        run_rules(s, AS_OF, names=["arrival_registration"])
        order = orders_for(s, worker_viewer(world))[0]
        with pytest.raises(InvalidInput, match="check digit"):
            with s.begin_nested():
                record_finding(s, worker_viewer(world), order.id, outcome="corrected", notes="上门登记",
                               correction={"kind": "register_resident", "dwelling_id": pl.dwelling_a1, "id_number": "320102199001010000",
                                           "name": "新住户", "birth_date": "1990-01-01"})
        number = P.id_number(77, dt.date(1990, 1, 1))
        record_finding(s, worker_viewer(world), order.id, outcome="corrected", notes="上门登记为流动人口",
                       correction={"kind": "register_resident", "dwelling_id": pl.dwelling_a1, "id_number": number,
                                   "name": "新住户", "birth_date": "1990-01-01"})
        new = s.scalars(select(Person).where(Person.name == "新住户")).one()
        assert new.residence_kind is ResidenceKind.floating and new.id_masked == number[:4] + "*" * 10 + number[-4:]
        rel = s.scalars(select(Relation).where(Relation.person_id == new.id)).one()
        assert rel.source == f"work_order:{order.id}"


def test_co_presence_and_footholds_for_police_only(world: dict) -> None:
    pl, gate, comp = world["places"], world["gate"], world["compound"]
    police_viewer = Viewer(7, Role.police, (P.STREET,), "police")
    mark = AuditMark()
    with transaction() as s:
        near = C.person(s, pl.dwelling_a1, "同行者")
        far = C.person(s, pl.dwelling_a1, "路人")
        t = AS_OF - D(hours=5)
        C.event(s, t, gate, person_id=pl.person_a, compound_id=comp)
        C.event(s, t + D(seconds=40), gate, person_id=near, compound_id=comp)
        C.event(s, t + D(minutes=10), gate, person_id=far, compound_id=comp)
        for night in range(1, 4):  # home at 23:10 local, three nights
            C.event(s, AS_OF - D(days=night, hours=-13, minutes=-10), gate, person_id=pl.person_a, direction="in", compound_id=comp)
    with transaction() as s:
        found = police.co_presence(s, police_viewer, pl.person_a, reason="案件协查 2026-42", end=AS_OF)
        assert [(c.person.id, c.encounters) for c in found] == [(near, 1)]
        assert found[0].closest_seconds == pytest.approx(40)
        holds = police.footholds(s, police_viewer, pl.person_a, reason="案件协查 2026-42", as_of=AS_OF)
        # Three nights home by 23:10, but on the last one they left again at 05:00: two nights stayed.
        assert [(h.compound_id, h.nights, h.share, h.dwelling_ids) for h in holds] == [(comp, 2, 1.0, (pl.dwelling_a1,))]
        with pytest.raises(InvalidInput, match="reason"):
            police.co_presence(s, police_viewer, pl.person_a, reason="", end=AS_OF)
        with pytest.raises(InvalidInput, match="at most 7 days"):
            police.co_presence(s, police_viewer, pl.person_a, reason="案件协查", start=AS_OF - D(days=30), end=AS_OF)
    with pytest.raises(AccessDenied):
        with transaction() as s:
            police.co_presence(s, worker_viewer(world), pl.person_a, reason="好奇", end=AS_OF)
    admin = Viewer(1, Role.admin, (), "admin-of-the-register")  # keeps the register; movements are police work
    with pytest.raises(AccessDenied, match="for police"):
        with transaction() as s:
            police.footholds(s, admin, pl.person_a, reason="核查户籍数据", as_of=AS_OF)
    logged = [(a.username, a.action, a.reason) for a in mark.rows() if a.action.startswith(("police.", "access."))]
    assert ("police", "police.co_presence", "案件协查 2026-42") in logged
    assert ("police", "police.footholds", "案件协查 2026-42") in logged
    assert [u for u, act, _ in logged if act == "access.denied"] == [worker_viewer(world).username, admin.username]


def test_realtime_population_from_registrations_and_flows(world: dict) -> None:
    pl, gate, comp = world["places"], world["gate"], world["compound"]
    with transaction() as s:
        out_now = C.person(s, pl.dwelling_a1, "上班族")
        C.event(s, AS_OF - D(hours=2), gate, person_id=out_now, compound_id=comp)
        back = C.person(s, pl.dwelling_a1, "回家了")
        C.event(s, AS_OF - D(hours=5), gate, person_id=back, compound_id=comp)
        C.event(s, AS_OF - D(hours=1), gate, person_id=back, direction="in", compound_id=comp)
        by_compound = {p.id: p for p in realtime_population(s, "compound", AS_OF)}
        by_grid = {p.id: p for p in realtime_population(s, "grid", AS_OF)}
    # residents of the compound: 王建国, 离开者 (out 10 days ago: beyond 48 h, assumed home), 上班族, 回家了
    assert by_compound[comp].residents == 4 and by_compound[comp].inside == 3
    assert by_grid[pl.grid_a1].realtime == 3 and by_grid[pl.grid_b1].residents == 1
