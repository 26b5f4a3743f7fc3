"""The query layer filters by the viewer's jurisdiction, masks by role and audits every read of people."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.errors import AccessDenied, InvalidInput, NotFound
from core.viewer import Role, Viewer
from blockdata import queries
from blockdata.db import session_factory, transaction
from blockdata.models import AuditLog
from tests import places as P

ADMIN = Viewer(1, Role.admin, (), "admin")
STREET = Viewer(2, Role.street, (P.STREET,), "street")
SUPERVISOR_A = Viewer(3, Role.supervisor, (P.COMMUNITY_A,), "sup-a")
POLICE = Viewer(5, Role.police, (P.STREET,), "police")


def worker(grid_code: str) -> Viewer:
    return Viewer(4, Role.worker, (grid_code,), "worker")


def audit_count(session, action: str) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == action))


def test_children_follow_the_hierarchy_and_the_jurisdiction(places: P.Places) -> None:
    with transaction() as s:
        assert [p.code for p in queries.children(s, ADMIN, P.STREET)] == [P.COMMUNITY_A, P.COMMUNITY_B]
        # A community supervisor drills down from the city to their own community only.
        assert [p.code for p in queries.children(s, SUPERVISOR_A, "320102000000")] == [P.STREET]
        assert [p.code for p in queries.children(s, SUPERVISOR_A, P.STREET)] == [P.COMMUNITY_A]
        assert [p.code for p in queries.children(s, SUPERVISOR_A, P.COMMUNITY_A)] == [P.COMMUNITY_A + "001", P.COMMUNITY_A + "002"]
        assert [p.code for p in queries.children(s, worker(P.COMMUNITY_A + "002"), P.COMMUNITY_A)] == [P.COMMUNITY_A + "002"]


def test_children_refuses_a_region_outside_the_jurisdiction(places: P.Places) -> None:
    with transaction() as s:
        with pytest.raises(AccessDenied, match="outside your jurisdiction"):
            queries.children(s, SUPERVISOR_A, P.COMMUNITY_B)
        with pytest.raises(NotFound):
            queries.children(s, ADMIN, "999999999999")


def test_grid_of_point(places: P.Places) -> None:
    with transaction() as s:
        found = queries.grid_of_point(s, STREET, 118.805, 32.045)
        assert found is not None and found.code == P.COMMUNITY_A + "001"
        assert queries.grid_of_point(s, STREET, 118.805, 32.055).code == P.COMMUNITY_B + "001"
        assert queries.grid_of_point(s, STREET, 118.70, 32.00) is None
        with pytest.raises(AccessDenied):
            queries.grid_of_point(s, SUPERVISOR_A, 118.805, 32.055)


def test_building_dwellings_only_inside_the_jurisdiction(places: P.Places) -> None:
    with transaction() as s:
        dwellings = queries.building_dwellings(s, worker(P.COMMUNITY_A + "001"), places.building_a1)
        assert [(d.unit, d.floor, d.room) for d in dwellings] == [(1, 3, "301")]
        with pytest.raises(AccessDenied):
            queries.building_dwellings(s, worker(P.COMMUNITY_A + "002"), places.building_a1)
        with pytest.raises(NotFound):
            queries.building_dwellings(s, ADMIN, 10**9)


def test_dwelling_people_are_masked_by_role_and_audited(places: P.Places) -> None:
    with transaction() as s:
        before = audit_count(s, "dwelling.people")
    with transaction() as s:
        seen_by_worker = queries.dwelling_people(s, worker(P.COMMUNITY_A + "001"), places.dwelling_a1, reason="走访")
        seen_by_street = queries.dwelling_people(s, STREET, places.dwelling_a1)
    assert [p.name for p in seen_by_worker] == ["王建国"]
    assert [p.name for p in seen_by_street] == ["王*国"]  # wall screens: masked names
    assert seen_by_worker[0].id_masked.startswith("3201") and "*" * 10 in seen_by_worker[0].id_masked
    assert seen_by_worker[0].tags == ("elderly_alone",)
    with transaction() as s:
        assert audit_count(s, "dwelling.people") == before + 2


def test_refusals_are_audited_and_return_nothing(places: P.Places) -> None:
    with transaction() as s:
        before = audit_count(s, "access.denied")
    with pytest.raises(AccessDenied):
        with transaction() as s:
            queries.dwelling_people(s, SUPERVISOR_A, places.dwelling_b1)
    with transaction() as s:
        assert audit_count(s, "access.denied") == before + 1
        last = s.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(1)).one()
        assert last.username == "sup-a" and last.subject == f"dwelling:{places.dwelling_b1}"


def test_person_relations_need_a_tie_to_the_jurisdiction(places: P.Places) -> None:
    with transaction() as s:
        rels = queries.person_relations(s, SUPERVISOR_A, places.person_a, reason="核查")
        assert [(r.kind, r.target_kind, r.target_id) for r in rels] == [("owns", "dwelling", places.dwelling_a1)]
        with pytest.raises(AccessDenied):
            queries.person_relations(s, SUPERVISOR_A, places.person_b)


def test_lookup_by_id_number_is_for_police_with_a_reason(places: P.Places) -> None:
    with transaction() as s:
        found = queries.person_by_id_number(s, POLICE, places.id_number_a, reason="案件协查 2026-118")
        assert found is not None and found.id == places.person_a and found.name == "王建国"
        with pytest.raises(InvalidInput, match="reason"):
            queries.person_by_id_number(s, POLICE, places.id_number_a, reason="")
    with pytest.raises(AccessDenied):
        with transaction() as s:
            queries.person_by_id_number(s, SUPERVISOR_A, places.id_number_a, reason="想看看")
    with transaction() as s:
        with pytest.raises(InvalidInput, match="check digit"):
            queries.person_by_id_number(s, POLICE, places.id_number_a[:17] + ("0" if places.id_number_a[17] != "0" else "1"), reason="案件协查")


def test_audit_log_is_append_only(places: P.Places) -> None:
    session = session_factory()()
    try:
        with pytest.raises(Exception, match="append-only"):
            with session.begin():
                session.execute(AuditLog.__table__.delete())
        with pytest.raises(Exception, match="append-only"):
            with session.begin():
                session.execute(AuditLog.__table__.update().values(reason="edited"))
    finally:
        session.close()
