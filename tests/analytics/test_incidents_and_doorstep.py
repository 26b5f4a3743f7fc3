"""事件上报, photos on orders and the doorstep forms' corrections, on the seeded tiny street.

Hard negatives: a point in another worker's grid is refused (and the refusal audited), a point in no
grid at all is refused with what to do; a file that only claims to be a photo is refused; the form of
one rule cannot be used on another rule's order; 人户分离 both ways changes exactly the person's living
here and nothing else; clearing a group rental clears only its group-rental bar.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from analytics import doorstep, incidents
from core.errors import AccessDenied, InvalidInput
from core.viewer import Role, Viewer
from blockdata.db import transaction
from blockdata.models import Account, AuditLog, FaceTemplate, Incident, Person, Relation, Rental, WorkOrder, WorkOrderPhoto
from tests.seeded import seed_tiny_swept

ANCHOR = dt.date(2026, 11, 20)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def _viewer(acc: Account) -> Viewer:
    return Viewer(acc.id, Role(acc.role), tuple(acc.jurisdiction), acc.username)


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    seed_tiny_swept(ANCHOR)
    with transaction() as s:
        grids = s.execute(text(
            """SELECT g.id, g.code, g.worker_account_id, g.supervisor_account_id,
                      ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
               FROM grid g ORDER BY g.code LIMIT 2""")).all()
        workers = [_viewer(s.get(Account, g.worker_account_id)) for g in grids]
    return {"grids": grids, "workers": workers}


def _open_order(kind: str, alert_rule: str | None = None) -> WorkOrder | None:
    with transaction() as s:
        return s.execute(text(
            """SELECT w.id, w.assignee_account_id, a.subject_id FROM work_order w JOIN alert a ON a.id = w.alert_id
               WHERE w.kind = :k AND w.status = 'assigned' ORDER BY w.id LIMIT 1"""), {"k": kind}).first()


def test_an_incident_becomes_a_supervisor_order_at_its_point(street: dict) -> None:
    g = street["grids"][0]
    with transaction() as s:
        incident = incidents.report(s, street["workers"][0], category="fire_hazard", description="楼道堆放杂物堵塞消防通道",
                                    lon=g.lon, lat=g.lat, source="phone")
        incident_id, order_id = incident.id, incident.work_order_id
    with transaction() as s:
        order = s.get(WorkOrder, order_id)
        row = s.get(Incident, incident_id)
        assert order.kind == "incident" and order.grid_id == g.id and order.assignee_account_id == g.supervisor_account_id
        assert row.grid_id == g.id and row.reported_by == street["workers"][0].username
        supervisor = _viewer(s.get(Account, g.supervisor_account_id))
    from analytics.work_orders import orders_for
    from layers.incidents import incident_rows
    with transaction() as s:
        assert order_id in [o.id for o in orders_for(s, supervisor)]
        assert incident_id in [r["id"] for r in incident_rows(s, supervisor)]
        assert incident_id not in [r["id"] for r in incident_rows(s, street["workers"][1])], "another grid's worker"


def test_an_incident_outside_the_jurisdiction_is_refused_and_audited(street: dict) -> None:
    other = street["grids"][1]
    with transaction() as s:
        mark = s.scalar(select(func.coalesce(func.max(AuditLog.id), 0)))
        before = s.scalar(select(func.count()).select_from(Incident))
    with pytest.raises(AccessDenied), transaction() as s:
        incidents.report(s, street["workers"][0], category="other", description="别的网格的事",
                         lon=other.lon, lat=other.lat, source="phone")
    with pytest.raises(InvalidInput, match="no grid"), transaction() as s:
        incidents.report(s, street["workers"][0], category="other", description="街道之外", lon=121.47, lat=31.23,
                         source="phone")
    with pytest.raises(InvalidInput, match="category"), transaction() as s:
        incidents.report(s, street["workers"][0], category="ufo", description="天上有东西",
                         lon=street["grids"][0].lon, lat=street["grids"][0].lat, source="phone")
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == before
        denied = list(s.scalars(select(AuditLog).where(AuditLog.id > mark, AuditLog.action == "access.denied",
                                                       AuditLog.username == street["workers"][0].username)))
        assert len(denied) == 1 and denied[0].subject.startswith("point:")


def test_a_photo_is_kept_with_its_order_and_never_becomes_a_template(street: dict) -> None:
    g = street["grids"][0]
    with transaction() as s:
        order_id = incidents.report(s, street["workers"][0], category="facility", description="路灯损坏",
                                    lon=g.lon, lat=g.lat, source="phone").work_order_id
        templates = s.scalar(select(func.count()).select_from(FaceTemplate))
    with transaction() as s:
        incidents.attach_photo(s, street["workers"][0], order_id, PNG)
    with pytest.raises(InvalidInput, match="JPEG or PNG"), transaction() as s:
        incidents.attach_photo(s, street["workers"][0], order_id, b"GIF89a not really a photo")
    with pytest.raises(AccessDenied), transaction() as s:
        incidents.attach_photo(s, street["workers"][1], order_id, PNG)  # not their order
    with transaction() as s:
        photos = list(s.scalars(select(WorkOrderPhoto).where(WorkOrderPhoto.work_order_id == order_id)))
        assert [(p.content_type, p.data) for p in photos] == [("image/png", PNG)]
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == templates


def test_a_form_of_another_rule_is_refused(street: dict) -> None:
    order = _open_order("departure")
    with transaction() as s:
        viewer = _viewer(s.get(Account, order.assignee_account_id))
    with pytest.raises(InvalidInput, match="choose one of"), transaction() as s:
        doorstep.submit(s, viewer, order.id, "flag_group_rental", "试试群租")
    with transaction() as s:
        assert s.get(WorkOrder, order.id).status.value == "assigned"


def test_registration_residence_mismatch_both_ways(street: dict) -> None:
    order = _open_order("departure")
    with transaction() as s:
        viewer = _viewer(s.get(Account, order.assignee_account_id))
        person = s.get(Person, order.subject_id)
        home = person.home_dwelling_id
    with pytest.raises(InvalidInput, match="other address"), transaction() as s:
        doorstep.submit(s, viewer, order.id, "registered_elsewhere", "户在人不在", {"other_address": ""})
    with transaction() as s:
        doorstep.submit(s, viewer, order.id, "registered_elsewhere", "邻居说已搬到河西", {"other_address": "建邺区江东中路100号"})
    with transaction() as s:
        person = s.get(Person, order.subject_id)
        assert person.home_dwelling_id is None
        living = s.scalars(select(Relation).where(Relation.person_id == person.id, Relation.kind == "lives_in",
                                                  Relation.valid_to.is_(None))).all()
        assert living == []
        done = s.get(WorkOrder, order.id)
        assert done.correction["kind"] == "registered_elsewhere" and done.correction["home_dwelling_before"] == home
        assert done.correction["living_at"] == "建邺区江东中路100号"


def _departure_order_for_someone_else() -> WorkOrder:
    """A departure order (alert and order) for a resident of grid A who has none yet."""
    with transaction() as s:
        p = s.execute(text(
            """SELECT p.id, b.grid_id, g.worker_account_id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id
               JOIN building b ON b.id = d.building_id JOIN grid g ON g.id = b.grid_id
               WHERE NOT EXISTS (SELECT 1 FROM alert a WHERE a.subject_kind = 'person' AND a.subject_id = p.id)
               ORDER BY p.id LIMIT 1""")).one()
        alert_id = s.execute(text(
            """INSERT INTO alert (rule, severity, confidence, subject_kind, subject_id, grid_id, evidence, dedup_key)
               VALUES ('departure', 'low', 0.7, 'person', :p, :g, '{}', 'departure:person:' || :p) RETURNING id"""),
            {"p": p.id, "g": p.grid_id}).scalar_one()
        order_id = s.execute(text(
            """INSERT INTO work_order (alert_id, kind, grid_id, assignee_account_id, due_at, status, created_at)
               VALUES (:a, 'departure', :g, :w, now() + interval '1 day', 'assigned', now()) RETURNING id"""),
            {"a": alert_id, "g": p.grid_id, "w": p.worker_account_id}).scalar_one()
    return _Order(order_id, p.worker_account_id, p.id)


class _Order:
    def __init__(self, id_: int, assignee: int, subject: int) -> None:
        self.id, self.assignee_account_id, self.subject_id = id_, assignee, subject


def test_living_here_registered_elsewhere_adds_the_residence_with_provenance(street: dict) -> None:
    order = _departure_order_for_someone_else()
    with transaction() as s:
        viewer = _viewer(s.get(Account, order.assignee_account_id))
        home = s.get(Person, order.subject_id).home_dwelling_id
    with transaction() as s:
        doorstep.submit(s, viewer, order.id, "living_here_registered_elsewhere", "本人在家，户口在老家",
                        {"other_address": "安徽省合肥市某县"})
    with transaction() as s:
        rel = s.scalars(select(Relation).where(Relation.person_id == order.subject_id,
                                               Relation.source == f"work_order:{order.id}")).one()
        assert rel.dwelling_id == home and rel.kind.value == "lives_in"


def test_group_rental_flag_then_clear(street: dict) -> None:
    order = _open_order("group_rental")
    if order is None:
        pytest.skip("no group-rental order on this seed")
    with transaction() as s:
        viewer = _viewer(s.get(Account, order.assignee_account_id))
    with transaction() as s:
        doorstep.submit(s, viewer, order.id, "flag_group_rental", "实地查看，住了7人")
        barred = s.scalars(select(Rental).where(Rental.dwelling_id == order.subject_id)).all()
        assert barred and all(r.blacklisted for r in barred)
        # a second order on the same dwelling, settled the other way: the group-rental bar is lifted
        again = s.execute(text(
            """INSERT INTO work_order (alert_id, kind, grid_id, assignee_account_id, due_at, status, created_at)
               SELECT alert_id, kind, grid_id, assignee_account_id, now() + interval '1 day', 'assigned', now()
               FROM work_order WHERE id = :o RETURNING id"""), {"o": order.id}).scalar_one()
    with transaction() as s:
        doorstep.submit(s, viewer, again, "clear_group_rental", "复查：已清退，只剩一户")
    with transaction() as s:
        assert not any(r.blacklisted for r in s.scalars(select(Rental).where(Rental.dwelling_id == order.subject_id)))
        assert s.get(WorkOrder, again).correction["rentals_cleared"] == len(barred)


def test_a_welfare_visit_is_recorded_without_changing_the_person(street: dict) -> None:
    order = _open_order("elderly_inactive")
    if order is None:
        pytest.skip("no elderly order on this seed")
    with transaction() as s:
        viewer = _viewer(s.get(Account, order.assignee_account_id))
        home = s.get(Person, order.subject_id).home_dwelling_id
    with pytest.raises(InvalidInput, match="visit's result"), transaction() as s:
        doorstep.submit(s, viewer, order.id, "welfare_visit", "上门", {"state": "fine?"})
    with transaction() as s:
        doorstep.submit(s, viewer, order.id, "welfare_visit", "老人在家，身体尚可", {"state": "well"})
    with transaction() as s:
        done = s.get(WorkOrder, order.id)
        assert done.outcome == "confirmed" and done.correction["state"] == "well"
        assert s.get(Person, order.subject_id).home_dwelling_id == home
