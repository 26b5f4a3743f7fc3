"""The drill-down's queries in the query layer: a grid's buildings and a person's gate passages."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from core.errors import AccessDenied, InvalidInput
from core.viewer import Role, Viewer
from dashboard import places
from blockdata import queries
from blockdata.db import transaction
from blockdata.models import AuditLog
from demo.synthetic import run_seed


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    run_seed(preset="tiny", seed=11, anchor=dt.date(2026, 11, 20), reset=True)
    with transaction() as s:
        grid = s.execute(text("SELECT g.code FROM building b JOIN grid g ON g.id = b.grid_id ORDER BY b.id LIMIT 1")).scalar_one()
        other = s.execute(text("SELECT code FROM grid WHERE code <> :g ORDER BY code LIMIT 1"), {"g": grid}).scalar_one()
        person = s.execute(text(
            """SELECT e.person_id FROM access_event e JOIN person p ON p.id = e.person_id JOIN dwelling d ON d.id = p.home_dwelling_id
               JOIN building b ON b.id = d.building_id JOIN grid g ON g.id = b.grid_id
               WHERE g.code = :g GROUP BY e.person_id ORDER BY count(*) DESC LIMIT 1"""), {"g": grid}).scalar_one()
    return {"grid": grid, "other": other, "person": person}


def _last_audit_id() -> int:
    with transaction() as s:
        return s.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()


def test_grid_buildings_inside_and_refused_outside(street: dict) -> None:
    worker = Viewer(None, Role.worker, (street["grid"],), "w-test")
    before = _last_audit_id()
    with transaction() as s:
        buildings = queries.grid_buildings(s, worker, street["grid"])
    assert buildings and all(b.dwellings > 0 and b.floors > 0 for b in buildings)
    with pytest.raises(AccessDenied), transaction() as s:
        queries.grid_buildings(s, worker, street["other"])
    with transaction() as s:
        refused = s.scalars(select(AuditLog).where(AuditLog.id > before, AuditLog.action == "access.denied")).all()
    assert [(a.username, a.subject) for a in refused] == [("w-test", f"grid:{street['other']}")]


def test_person_access_history_is_audited_and_newest_first(street: dict) -> None:
    worker = Viewer(None, Role.worker, (street["grid"],), "w-test")
    before = _last_audit_id()
    with transaction() as s:
        history = queries.person_access_history(s, worker, street["person"], limit=20)
    assert 0 < len(history) <= 20 and history == sorted(history, key=lambda a: a.ts, reverse=True)
    assert {a.direction for a in history} <= {"in", "out"}
    with transaction() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.id > before, AuditLog.action == "person.access_history")).all()
    assert [(r.username, r.subject, r.detail["count"]) for r in rows] == [("w-test", f"person:{street['person']}", len(history))]
    outsider = Viewer(None, Role.worker, (street["other"],), "w-other")
    with pytest.raises(AccessDenied), transaction() as s:
        queries.person_access_history(s, outsider, street["person"])


def test_places_in_the_url_and_their_breadcrumbs(street: dict) -> None:
    assert places.parse("?place=grid:" + street["grid"]) == places.Place("grid", street["grid"])
    assert places.parse("") is None
    for bad, says in (("?place=grid:1;drop", "not a place key"), ("?place=nothing:1", "not a place"),
                      ("?place=floor:x-1", "not a floor")):
        with pytest.raises(InvalidInput, match=says):
            places.parse(bad)
    worker = Viewer(None, Role.worker, (street["grid"],), "w")
    with transaction() as s:
        crumbs = places.chain(s, worker, places.Place("grid", street["grid"]))
        root = places.root(s, Viewer(None, Role.worker, (street["grid"],), "w"))
    assert [c[0].split(":")[0] for c in crumbs] == ["region", "region", "grid"]  # street, community, grid
    assert root == places.Place("grid", street["grid"])


def test_a_persons_breadcrumbs_show_their_home_only_inside_the_viewers_jurisdiction(street: dict) -> None:
    person = places.Place("person", str(street["person"]))
    inside = Viewer(None, Role.worker, (street["grid"],), "w-in")
    outside = Viewer(None, Role.worker, (street["other"],), "w-out")
    with transaction() as s:
        near = places.chain(s, inside, person, "某某")
        far = places.chain(s, outside, person, "某某")
    assert [c[0].split(":")[0] for c in near] == ["region", "region", "grid", "building", "floor", "dwelling", "person"]
    assert far == [(person.value, "某某")]  # no street, grid, building or dwelling of a home elsewhere
