"""一搜 on the seeded tiny street: what a person types, what they must find, and what they must never see.

Cases come from the users' day: a worker types an address the way residents write it (栋 for 幢,
dashes, no 室, Chinese numerals, the city left out) and must land on that dwelling, not its
neighbour one floor up or in the next building; a name finds only people of the viewer's own
grids; an ID number typed in the box finds its person only inside the viewer's jurisdiction and
reads "not here" alike for a number elsewhere and a number nowhere (beyond that: 警务, with a reason); every
search of people leaves one audit row, which the test selects by its own id range.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from core.config import load_secrets
from core.errors import InvalidInput
from core.viewer import Role, Viewer
from blockdata.db import transaction
from blockdata.identity import check_digit, hash_id_number, mask_id_number
from blockdata.models import Account, AuditLog
from intake.search import search
from tests.seeded import seed_tiny_swept

ANCHOR = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    seed_tiny_swept(ANCHOR)
    with transaction() as s:
        grids = s.execute(text(
            """SELECT g.id, g.code FROM grid g WHERE EXISTS (SELECT 1 FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id
               JOIN building b ON b.id = d.building_id WHERE b.grid_id = g.id) ORDER BY g.code""")).all()
        assert len(grids) >= 2, "the tiny street has at least two grids with residents"
        # a dwelling with people in grid A, a dwelling in grid B
        def dwelling_in(grid_id: int) -> dict:
            r = s.execute(text(
                """SELECT d.id, d.building_id, a.road, a.number, a.compound, a.building, a.unit, a.room, a.full_text,
                          d.unit AS unit_no, d.floor, d.room AS room_no
                   FROM dwelling d JOIN building b ON b.id = d.building_id JOIN address a ON a.id = d.address_id
                   WHERE b.grid_id = :g AND EXISTS (SELECT 1 FROM person p WHERE p.home_dwelling_id = d.id)
                   ORDER BY d.id LIMIT 1"""), {"g": grid_id}).one()
            return dict(r._mapping)
        a, b = dwelling_in(grids[0].id), dwelling_in(grids[1].id)
        person_b = s.execute(text("SELECT id, name FROM person WHERE home_dwelling_id = :d ORDER BY id LIMIT 1"),
                             {"d": b["id"]}).one()
        person_a = s.execute(text("SELECT id, name FROM person WHERE home_dwelling_id = :d ORDER BY id LIMIT 1"),
                             {"d": a["id"]}).one()
        workers = {g.code: s.scalars(select(Account).where(Account.username == f"worker-{g.code[-9:]}")).one()
                   for g in grids[:2]}
        viewers = {code: Viewer(acc.id, Role.worker, tuple(acc.jurisdiction), acc.username) for code, acc in workers.items()}
    return {"a": a, "b": b, "grid_a": grids[0].code, "grid_b": grids[1].code, "person_a": person_a,
            "person_b": person_b, "worker_a": viewers[grids[0].code], "worker_b": viewers[grids[1].code]}


def _run(viewer: Viewer, q: str):  # noqa: ANN202
    with transaction() as s:
        return search(s, viewer, q)


def _num(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _messy_forms(d: dict) -> list[str]:
    b, u, r = _num(d["building"]), _num(d["unit"]), _num(d["room"])
    cn = "零一二三四五六七八九"
    return [
        d["full_text"],
        f"{d['compound']}{b}-{u}-{r}",
        f"南京鼓楼{d['road']}{d['number']}{d['compound']}{b}栋{u}单元{r}",
        f"{d['compound']}{cn[int(b)] if len(b) == 1 else b}幢{cn[int(u)] if len(u) == 1 else u}单元{r}室",
        f"  {d['road']}{d['number']}{b}号楼{u}单元{r}室 ",
    ]


def test_a_messy_address_finds_its_dwelling_first(street: dict) -> None:
    d = street["a"]
    for q in _messy_forms(d):
        hits = _run(street["worker_a"], q).hits
        assert hits, q
        assert hits[0].kind == "dwelling" and hits[0].href == f"/drill?place=dwelling:{d['id']}", (q, hits[:3])


def test_another_room_is_not_this_dwelling(street: dict) -> None:
    d = street["a"]
    other_room = f"{d['compound']}{_num(d['building'])}-{_num(d['unit'])}-9909"
    hrefs = [h.href for h in _run(street["worker_a"], other_room).hits]
    assert f"/drill?place=dwelling:{d['id']}" not in hrefs


def test_the_same_room_in_another_building_ranks_below_the_right_one(street: dict) -> None:
    d = street["a"]
    with transaction() as s:
        twin = s.execute(text(
            """SELECT d.id FROM dwelling d JOIN address a ON a.id = d.address_id JOIN building b ON b.id = d.building_id
               WHERE a.room = :room AND a.unit = :unit AND d.building_id <> :b AND b.grid_id = (SELECT grid_id FROM building WHERE id = :b)
               LIMIT 1"""), {"room": d["room"], "unit": d["unit"], "b": d["building_id"]}).first()
    hits = _run(street["worker_a"], f"{d['compound']}{_num(d['building'])}栋{_num(d['unit'])}单元{_num(d['room'])}").hits
    assert hits[0].href == f"/drill?place=dwelling:{d['id']}"
    if twin is not None:
        hrefs = [h.href for h in hits]
        twin_href = f"/drill?place=dwelling:{twin.id}"
        assert twin_href not in hrefs or hrefs.index(twin_href) > 0


def test_an_address_in_another_grid_is_never_returned(street: dict) -> None:
    b = street["b"]
    for q in _messy_forms(b):
        hrefs = [h.href for h in _run(street["worker_a"], q).hits]
        assert f"/drill?place=dwelling:{b['id']}" not in hrefs, q
        assert f"/drill?place=building:{b['building_id']}" not in hrefs, q
    # and the worker of that grid does find it (the negative above is the jurisdiction, not the parser)
    assert _run(street["worker_b"], b["full_text"]).hits[0].href == f"/drill?place=dwelling:{b['id']}"


def _audit_since(mark: int, username: str) -> list[AuditLog]:
    with transaction() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.id > mark, AuditLog.username == username)
                              .order_by(AuditLog.id)))


def _mark() -> int:
    with transaction() as s:
        return s.scalar(select(func.coalesce(func.max(AuditLog.id), 0)))


def test_a_name_finds_people_of_the_own_grid_only_and_is_audited(street: dict) -> None:
    pa, pb = street["person_a"], street["person_b"]
    mark = _mark()
    hits = _run(street["worker_a"], pa.name).hits
    people = [h for h in hits if h.kind == "person"]
    assert f"/drill?place=person:{pa.id}" in [h.href for h in people]
    assert all("*" in h.label for h in people), "ID numbers are shown masked"
    rows = [r for r in _audit_since(mark, street["worker_a"].username) if r.action == "person.search_name"]
    assert len(rows) == 1 and pa.id in rows[0].detail["person_ids"] and rows[0].reason == "一搜"
    assert pa.name not in (rows[0].subject + str(rows[0].detail)), "the typed name is not written to the log"
    # a person who lives only in grid B is not found by grid A's worker (unless tied to grid A too)
    with transaction() as s:
        tied_to_a = s.execute(text(
            """SELECT 1 FROM relation r JOIN dwelling d ON d.id = r.dwelling_id JOIN building b ON b.id = d.building_id
               JOIN grid g ON g.id = b.grid_id WHERE r.person_id = :p AND g.code = :a"""),
            {"p": pb.id, "a": street["grid_a"]}).first()
    if tied_to_a is None:
        assert f"/drill?place=person:{pb.id}" not in [h.href for h in _run(street["worker_a"], pb.name).hits]


def test_names_are_masked_for_the_command_centre(street: dict) -> None:
    pa = street["person_a"]
    with transaction() as s:
        acc = s.scalars(select(Account).where(Account.role == Role.street)).first()
    viewer = Viewer(acc.id, Role.street, tuple(acc.jurisdiction), acc.username)
    people = [h for h in _run(viewer, pa.name).hits if h.href == f"/drill?place=person:{pa.id}"]
    assert people and pa.name not in people[0].label and people[0].label.startswith(pa.name[0])


def _give_id_number(person_id: int, number: str) -> None:
    """The seed keeps only hashes: give person A a number the test knows, stored as the registry stores one."""
    with transaction() as s:
        s.execute(text("UPDATE person SET id_hash = :h, id_masked = :m WHERE id = :p"),
                  {"h": hash_id_number(load_secrets().id_hash_key, number), "m": mask_id_number(number), "p": person_id})


def test_an_id_number_finds_its_person_inside_the_jurisdiction_only(street: dict) -> None:
    number = "32010219850304219X"  # a valid check digit; written below in lower case, spaced, as people type it
    assert check_digit(number[:17]) == number[17]
    pa = street["person_a"]
    _give_id_number(pa.id, number)
    mark = _mark()
    typed = " 320102 19850304 219x "
    own = _run(street["worker_a"], typed)
    assert [h.href for h in own.hits] == [f"/drill?place=person:{pa.id}"]
    assert "3201**********219X" in own.hits[0].label and number not in own.hits[0].label
    rows = [r for r in _audit_since(mark, street["worker_a"].username) if r.action == "person.search_id"]
    assert [(r.subject, r.reason) for r in rows] == [(f"person:{pa.id}", "一搜")]
    # Grid B's worker types the same number: nothing, and the same answer as for a number that exists nowhere.
    other = _run(street["worker_b"], number)
    nowhere = _run(street["worker_b"], "11010519491231002X")
    assert other.hits == () and nowhere.hits == () and other.note == nowhere.note and "辖区内没有" in other.note
    rows_b = [r for r in _audit_since(mark, street["worker_b"].username) if r.action == "person.search_id"]
    assert [r.subject for r in rows_b] == ["person:none", "person:none"]
    with transaction() as s:
        leaked = s.execute(text("SELECT count(*) FROM audit_log WHERE id > :m AND (subject || coalesce(reason, '') || detail::text) LIKE :n"),
                           {"m": mark, "n": f"%{number[6:14]}%"}).scalar_one()
    assert leaked == 0, "the number typed is not written to the log"


def test_an_id_number_with_a_wrong_check_digit_is_said_so_and_not_looked_up(street: dict) -> None:
    mark = _mark()
    results = _run(street["worker_a"], "320102198503042190")  # the lookalike: one check digit off
    assert results.hits == () and "校验位" in results.note
    assert [r for r in _audit_since(mark, street["worker_a"].username) if r.action == "person.search_id"] == []


def test_an_order_number_finds_only_the_own_order(street: dict) -> None:
    with transaction() as s:
        order = s.execute(text("SELECT id, assignee_account_id FROM work_order WHERE assignee_account_id = :a LIMIT 1"),
                          {"a": street["worker_a"].account_id}).first()
    if order is None:
        pytest.skip("grid A's worker has no order on this seed")
    assert _run(street["worker_a"], f"工单 {order.id}").hits[0].href == f"/orders?order={order.id}"
    assert not [h for h in _run(street["worker_b"], f"工单{order.id}").hits if h.kind == "order"]


def test_places_by_name_within_the_jurisdiction(street: dict) -> None:
    d = street["a"]
    hits = _run(street["worker_a"], d["compound"]).hits
    assert any(h.kind == "compound" and h.label == d["compound"] for h in hits)
    with transaction() as s:
        grid_name = s.scalar(text("SELECT name FROM grid WHERE code = :c"), {"c": street["grid_b"]})
    assert not [h for h in _run(street["worker_a"], grid_name).hits if h.href == f"/drill?place=grid:{street['grid_b']}"]
    assert [h for h in _run(street["worker_b"], grid_name).hits if h.href == f"/drill?place=grid:{street['grid_b']}"]


def test_too_long_a_query_is_refused_with_what_to_change(street: dict) -> None:
    with pytest.raises(InvalidInput, match="at most 100 characters"):
        _run(street["worker_a"], "宁" * 101)
    assert _run(street["worker_a"], "   ").hits == ()
