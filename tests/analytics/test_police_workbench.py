"""The police workbench's reads on the seeded tiny street: who is inside a key site now, a trajectory,
and the default day; with the refusals (no reason, wrong role, outside the jurisdiction).

Hard negatives: a person who went in and came out again is not inside; an entry before local
midnight (after UTC midnight's day boundary would say otherwise) is not today's; a denied passage
is not an entry; a passage at another site does not count.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, text

from analytics.police_workbench import inside_now, last_day_with_data, trajectory
from core.config import local_tz
from core.errors import AccessDenied, InvalidInput
from core.viewer import Role, Viewer
from blockdata.db import transaction
from blockdata.models import Account, AuditLog
from tests.seeded import seed_tiny_swept

ANCHOR = dt.date(2026, 11, 20)
DAY = ANCHOR - dt.timedelta(days=1)  # a seeded day (its partition exists)


def _at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), local_tz())


def _event(s, gate: int, site: int, person: int, ts: dt.datetime, direction: str, result: str = "open") -> None:  # noqa: ANN001
    s.execute(text(
        """INSERT INTO access_event (event_id, ts, gate_id, key_site_id, direction, method, result, person_id)
           VALUES (:e, :ts, :g, :k, CAST(:d AS direction), 'face', CAST(:r AS access_result), :p)"""),
        {"e": uuid.uuid4(), "ts": ts, "g": gate, "k": site, "d": direction, "r": result, "p": person})


@pytest.fixture(scope="module")
def street(database_url: str) -> dict:
    seed_tiny_swept(ANCHOR)
    with transaction() as s:
        sites = s.execute(text(
            """SELECT k.id, min(g.id) AS gate FROM key_site k JOIN gate g ON g.key_site_id = k.id GROUP BY k.id ORDER BY k.id""")).all()
        people = list(s.execute(text("SELECT id FROM person WHERE home_dwelling_id IS NOT NULL ORDER BY id LIMIT 6")).scalars())
        site, other = sites[0], sites[1] if len(sites) > 1 else None
        # clear the chosen people's own passages at the site that day, then write the cases
        s.execute(text("DELETE FROM access_event WHERE key_site_id = :k AND ts >= :a AND ts < :b"),
                  {"k": site.id, "a": _at(0), "b": _at(0, day=DAY + dt.timedelta(days=1))})
        inside, left, yesterday, denied, elsewhere, reentered = people
        _event(s, site.gate, site.id, inside, _at(9), "in")
        _event(s, site.gate, site.id, left, _at(9, 5), "in")
        _event(s, site.gate, site.id, left, _at(10), "out")
        _event(s, site.gate, site.id, yesterday, _at(23, 30, DAY - dt.timedelta(days=1)), "in")  # 15:30 UTC the day before
        _event(s, site.gate, site.id, denied, _at(9, 30), "in", "deny")
        if other is not None:
            _event(s, other.gate, other.id, elsewhere, _at(9, 40), "in")
        _event(s, site.gate, site.id, reentered, _at(8), "in")
        _event(s, site.gate, site.id, reentered, _at(8, 30), "out")
        _event(s, site.gate, site.id, reentered, _at(10, 30), "in")
        police = s.scalars(select(Account).where(Account.role == Role.police)).first()
        worker = s.scalars(select(Account).where(Account.role == Role.worker)).first()
    return {"site": site.id, "ids": {"inside": inside, "left": left, "reentered": reentered},
            "inside": {inside, reentered}, "not_inside": {left, yesterday, denied, elsewhere},
            "police": Viewer(police.id, Role.police, tuple(police.jurisdiction), police.username),
            "worker": Viewer(worker.id, Role.worker, tuple(worker.jurisdiction), worker.username)}


def test_who_is_inside_now_counts_only_todays_last_entries(street: dict) -> None:
    with transaction() as s:
        found = inside_now(s, street["police"], street["site"], reason="安保巡查 2026-118", now=_at(11))
    ids = {i.person.id for i in found}
    assert ids == street["inside"]
    with transaction() as s:
        row = s.scalars(select(AuditLog).where(AuditLog.action == "police.key_site_inside",
                                               AuditLog.subject == f"key_site:{street['site']}")
                        .order_by(AuditLog.id.desc())).first()
    assert row.reason == "安保巡查 2026-118" and set(row.detail["person_ids"]) == street["inside"]


def test_an_earlier_moment_sees_the_state_then(street: dict) -> None:
    with transaction() as s:
        found = inside_now(s, street["police"], street["site"], reason="安保巡查 2026-118", now=_at(9, 10))
    # at 09:10 the one who left at 10:00 was still inside; the re-entrant was out (left 08:30, back 10:30)
    n = street["ids"]
    assert {i.person.id for i in found} == {n["inside"], n["left"]}


def test_inside_now_needs_a_reason_and_the_police_role(street: dict) -> None:
    with pytest.raises(InvalidInput, match="stated reason"), transaction() as s:
        inside_now(s, street["police"], street["site"], reason=" ", now=_at(11))
    with pytest.raises(AccessDenied), transaction() as s:
        inside_now(s, street["worker"], street["site"], reason="想看看有谁", now=_at(11))


def test_a_trajectory_is_in_time_order_within_the_day_and_audited(street: dict) -> None:
    person = street["ids"]["inside"]
    start, end = _at(0), _at(0, day=DAY + dt.timedelta(days=1))
    with transaction() as s:
        passages = trajectory(s, street["police"], person, reason="案件 A-17 核查", start=start, end=end)
        expected = s.execute(text("SELECT count(*) FROM access_event WHERE person_id = :p AND result = 'open' "
                                  "AND ts >= :a AND ts < :b"), {"p": person, "a": start, "b": end}).scalar_one()
    assert len(passages) == expected >= 1
    assert [p.ts for p in passages] == sorted(p.ts for p in passages)
    assert all(start <= p.ts < end for p in passages)
    with pytest.raises(InvalidInput, match="at most 7 days"), transaction() as s:
        trajectory(s, street["police"], person, reason="案件 A-17 核查", start=start, end=start + dt.timedelta(days=8))
    with pytest.raises(InvalidInput, match="stated reason"), transaction() as s:
        trajectory(s, street["police"], person, reason="", start=start, end=end)


def test_the_default_day_is_the_last_day_with_passages_not_today(street: dict) -> None:
    with transaction() as s:
        day = last_day_with_data(s)
        latest = s.execute(text("SELECT max(ts) FROM access_event WHERE person_id IS NOT NULL")).scalar()
        count = s.execute(text("SELECT count(*) FROM access_event WHERE ts >= :a AND ts < :b"),
                          {"a": _at(0, day=day), "b": _at(0, day=day + dt.timedelta(days=1))}).scalar_one()
    assert day == latest.astimezone(local_tz()).date() and day != dt.date.today() and count > 0


def test_the_key_site_page_opens_on_the_last_day_its_counters_hold_flows(street: dict) -> None:
    from analytics.police_workbench import last_key_site_day

    with transaction() as s:
        day = last_key_site_day(s)
        start, end = _at(0, day=day), _at(0, day=day + dt.timedelta(days=1))
        flows = s.execute(text(
            """SELECT coalesce(sum(f.entries + f.exits), 0) FROM gate_flow_minute f JOIN gate g ON g.id = f.gate_id
               WHERE g.key_site_id IS NOT NULL AND f.minute >= :a AND f.minute < :b"""), {"a": start, "b": end}).scalar_one()
        later = s.execute(text(
            """SELECT count(*) FROM gate_flow_minute f JOIN gate g ON g.id = f.gate_id
               WHERE g.key_site_id IS NOT NULL AND f.minute >= :b AND f.entries + f.exits > 0"""), {"b": end}).scalar_one()
    assert flows > 0 and later == 0
