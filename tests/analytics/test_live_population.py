"""实时人口 kept as events land (migration 0013) means what the recomputation from the event table means.

Each case lands events through the ingest writer (the worker's own transaction), then reads the
maintained numbers and checks them against what the method (docs/ANALYTICS.md) says by hand, and against
``realtime_population`` (the recomputation) at every level. Times are relative to the database's now: the
counters hold the present.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.population import AWAY_HOURS, EVERYWHERE, VISIT_HOURS, live_population, realtime_population
from analytics.population_reconcile import expire, reconcile
from blockdata.db import transaction
from core.config import settings
from core.events import uuid7
from ingest.writer import land
from tests import analytics_cases as C
from tests import places as P

H = dt.timedelta(hours=1)
LEVELS = ("building", "compound", "grid", "community", "street")


@pytest.fixture
def world(database_url: str) -> Iterator[dict]:
    with transaction() as s:
        places = P.build(s)
        gate, compound = P.compound_gate(s)
        today = s.execute(text("SELECT (now() AT TIME ZONE 'UTC')::date")).scalar_one()
        s.execute(text("SELECT gp_ensure_event_partitions(CAST(:d AS date) - 3, CAST(:d AS date) + 1)"), {"d": today})
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        yield {"p": places, "gate": gate, "compound": compound, "conn": conn}


def now() -> dt.datetime:
    with transaction() as s:
        return s.execute(text("SELECT now()")).scalar_one()


def ev(world: dict, ts: dt.datetime, direction: str, *, person: int | None = None, pass_id: uuid.UUID | None = None,
       method: str = "face", result: str = "open", event_id: uuid.UUID | None = None) -> dict[str, str]:
    """One validated stream event (core.events.validate_fields' output: strings)."""
    fields = {"event_id": str(event_id or uuid7(int(ts.timestamp() * 1000))), "ts": ts.isoformat(),
              "gate_id": str(world["gate"]), "compound_id": str(world["compound"]), "direction": direction,
              "method": method, "result": result}
    if person is not None:
        fields["person_id"] = str(person)
    if pass_id is not None:
        fields["pass_id"] = str(pass_id)
    return fields


def by(level: str, *, at: dt.datetime | None = None, patterns: Sequence[str] = EVERYWHERE) -> dict:
    with transaction() as s:
        return {p.id: (p.residents, p.inside, p.visitors) for p in live_population(s, patterns, level, at)}


def recomputed(level: str, at: dt.datetime) -> dict:
    with transaction() as s:
        return {p.id: (p.residents, p.inside, p.visitors) for p in realtime_population(s, level, at)}


def assert_agrees(at: dt.datetime | None = None) -> None:
    """The maintained numbers equal the recomputation at every level."""
    at = at or now()
    for level in LEVELS:
        assert by(level, at=at) == recomputed(level, at), level


def person(dwelling: int, name: str) -> int:
    with transaction() as s:
        return C.person(s, dwelling, name)


def visitor_pass(world: dict) -> uuid.UUID:
    with transaction() as s:
        return s.execute(text(
            "INSERT INTO visitor_pass (dwelling_id, issued_by_person_id, visitor_name, valid_from, valid_to, entries_allowed) "
            "VALUES (:d, :p, '访客', now() - interval '23 hours', now() + interval '1 hour', 3) RETURNING id"),
            {"d": world["p"].dwelling_a1, "p": world["p"].person_a}).scalar_one()


def test_the_windows_in_python_are_the_databases(world: dict) -> None:
    with transaction() as s:
        away, visit = s.execute(text("SELECT gp_population_away(), gp_population_visit()")).one()
    assert (away, visit) == (dt.timedelta(hours=AWAY_HOURS), dt.timedelta(hours=VISIT_HOURS))


def test_an_exit_then_an_entry_out_of_order_and_duplicated(world: dict) -> None:
    p, conn, t = world["p"], world["conn"], now()
    a1 = p.building_a1
    # At the start: both residents assumed home (no passage).
    assert by("building")[a1] == (1, 1, 0) and by("building")[p.building_b1] == (1, 1, 0)
    commuter = person(p.dwelling_a1, "上班族")
    out = ev(world, t - 2 * H, "out", person=commuter)
    assert land(conn, [out]).stored == 1
    assert by("building")[a1] == (2, 1, 0)  # 王建国 home, 上班族 out
    # The same exit redelivered: not stored again, not counted again.
    assert land(conn, [out, out]).stored == 0
    assert by("building")[a1] == (2, 1, 0)
    # Back in an hour later: inside again.
    back_in = ev(world, t - H, "in", person=commuter)
    land(conn, [back_in])
    assert by("building")[a1] == (2, 2, 0)
    # An older exit landing late (a gate's outbox replayed) does not undo the newer entry.
    land(conn, [ev(world, t - 3 * H, "out", person=commuter)])
    assert by("building")[a1] == (2, 2, 0)
    # An entry and a later exit in one batch, the exit first in the batch: the later passage wins.
    land(conn, [ev(world, t - 10 * 60 * dt.timedelta(seconds=1), "out", person=commuter),
                ev(world, t - 20 * 60 * dt.timedelta(seconds=1), "in", person=commuter)])
    assert by("building")[a1] == (2, 1, 0)
    # A denied passage is no passage; another person's exit elsewhere changes nothing here.
    land(conn, [ev(world, t - 60 * dt.timedelta(seconds=1), "in", person=commuter, result="deny"),
                ev(world, t - 5 * 60 * dt.timedelta(seconds=1), "out", person=p.person_b)])
    assert by("building")[a1] == (2, 1, 0) and by("building")[p.building_b1] == (1, 0, 0)
    assert by("grid") == {p.grid_a1: (2, 1, 0), p.grid_b1: (1, 0, 0)}
    assert by("community") == {P.COMMUNITY_A: (2, 1, 0), P.COMMUNITY_B: (1, 0, 0)}
    assert by("street") == {P.STREET: (3, 1, 0)}
    assert by("compound") == {world["compound"]: (2, 1, 0)}
    assert_agrees()


def test_a_person_moving_dwelling_takes_their_state_along(world: dict) -> None:
    p, conn, t = world["p"], world["conn"], now()
    land(conn, [ev(world, t - 5 * H, "out", person=p.person_a)])
    assert by("building")[p.building_a1] == (1, 0, 0)
    with transaction() as s:
        s.execute(text("UPDATE person SET home_dwelling_id = :d WHERE id = :p"), {"d": p.dwelling_b1, "p": p.person_a})
    # Out of a1 (no residents left), into b1 as one more resident who is away.
    assert by("building") == {p.building_b1: (2, 1, 0)}
    land(conn, [ev(world, t - H, "in", person=p.person_a)])
    assert by("building")[p.building_b1] == (2, 2, 0)
    # A person without a home any more is nobody's resident; a new person counts from their first row.
    with transaction() as s:
        s.execute(text("UPDATE person SET home_dwelling_id = NULL WHERE id = :p"), {"p": p.person_b})
    newcomer = person(p.dwelling_a1, "新来的")
    assert by("building") == {p.building_a1: (1, 1, 0), p.building_b1: (1, 1, 0)}
    with transaction() as s:
        s.execute(text("DELETE FROM person WHERE id = :p"), {"p": newcomer})
    assert p.building_a1 not in by("building")
    assert_agrees()


def test_the_away_boundary_47_hours_against_49(world: dict) -> None:
    p, conn, t = world["p"], world["conn"], now()
    gone_47 = person(p.dwelling_a1, "走了47小时")
    gone_49 = person(p.dwelling_a1, "走了49小时")
    land(conn, [ev(world, t - 47 * H, "out", person=gone_47), ev(world, t - 49 * H, "out", person=gone_49)])
    # 王建国 home, 47 h away, 49 h: no passage in the last 48 h → assumed home.
    assert by("building")[p.building_a1] == (3, 2, 0)
    assert_agrees(t)
    # Two hours on, the 47-hour exit is 49 hours old: home again, before and after the expiry job.
    # 48 hours less a second after it, the 47-hour exit still counts; two hours on it is 49 hours old.
    assert by("building", at=t + H - dt.timedelta(seconds=1))[p.building_a1] == (3, 2, 0)
    later = t + 2 * H
    assert by("building", at=later)[p.building_a1] == (3, 3, 0)
    assert by("building", at=later) == recomputed("building", later)
    with transaction() as s:
        assert expire(s, later) == {"people": 1, "passes": 0}
    assert by("building", at=later)[p.building_a1] == (3, 3, 0)
    assert_agrees(later)


def test_the_maintained_read_refuses_the_past(world: dict) -> None:
    from core.errors import InvalidInput

    with transaction() as s, pytest.raises(InvalidInput, match="present"):
        live_population(s, EVERYWHERE, "grid", now() - 2 * H)


def test_the_visitor_23_hours_against_25(world: dict) -> None:
    p, conn, t = world["p"], world["conn"], now()
    stays, old, left = visitor_pass(world), visitor_pass(world), visitor_pass(world)
    land(conn, [ev(world, t - 23 * H, "in", pass_id=stays, method="visitor_qr"),
                ev(world, t - 25 * H, "in", pass_id=old, method="visitor_qr"),
                ev(world, t - 3 * H, "in", pass_id=left, method="visitor_qr")])
    assert by("building")[p.building_a1] == (1, 1, 2)
    # The exit may come through any gate and method; an exit landing before its entry still cancels it.
    land(conn, [ev(world, t - 2 * H, "out", pass_id=left, method="manual")])
    assert by("building")[p.building_a1] == (1, 1, 1)
    late = visitor_pass(world)
    land(conn, [ev(world, t - 30 * 60 * dt.timedelta(seconds=1), "out", pass_id=late, method="manual")])
    land(conn, [ev(world, t - H, "in", pass_id=late, method="visitor_qr")])
    assert by("building")[p.building_a1] == (1, 1, 1)
    # A visitor pass used at the gate by a resident's method is not a visitor entry; a denied one neither.
    odd = visitor_pass(world)
    land(conn, [ev(world, t - H, "in", pass_id=odd, method="visitor_qr", result="deny")])
    assert by("building")[p.building_a1] == (1, 1, 1)
    assert by("grid")[p.grid_a1] == (1, 1, 1) and by("compound")[world["compound"]] == (1, 1, 1)
    assert_agrees(t)
    # Two hours on, the 23-hour entry is 25 hours old: gone.
    later = t + 2 * H
    assert by("building", at=later)[p.building_a1] == (1, 1, 0)
    with transaction() as s:
        assert expire(s, later)["passes"] >= 1
    assert by("building", at=later)[p.building_a1] == (1, 1, 0)
    assert_agrees(later)


def _state() -> tuple:
    with transaction() as s:
        return tuple(tuple(s.execute(text(q)).all()) for q in (
            "SELECT * FROM population_live ORDER BY building_id", "SELECT * FROM presence_person ORDER BY person_id",
            "SELECT * FROM presence_pass ORDER BY pass_id"))


def test_a_rolled_back_ingest_leaves_the_numbers_unchanged(world: dict) -> None:
    p, conn, t = world["p"], world["conn"], now()
    land(conn, [ev(world, t - 2 * H, "out", person=p.person_a)])
    before = _state()
    assert before[0]  # there are counters to change
    events = [ev(world, t - H, "in", person=p.person_a), ev(world, t - H, "out", person=p.person_b)]
    with pytest.raises(psycopg.errors.UniqueViolation):
        with conn.transaction():  # the ingest's transaction fails after landing its batch
            land(conn, events)  # a savepoint inside the outer transaction
            conn.execute("INSERT INTO population_live (building_id) VALUES (%s)", (p.building_a1,))
    assert _state() == before
    assert by("building")[p.building_a1] == (1, 0, 0)
    land(conn, events)  # the worker retries the same batch: now it counts, once
    assert by("building") == {p.building_a1: (1, 1, 0), p.building_b1: (1, 0, 0)}


def test_the_reconciliation_finds_and_repairs_drift(world: dict, caplog: pytest.LogCaptureFixture) -> None:
    from prometheus_client import REGISTRY

    p, conn, t = world["p"], world["conn"], now()
    land(conn, [ev(world, t - 2 * H, "out", person=p.person_a), ev(world, t - H, "in", pass_id=visitor_pass(world),
                                                                     method="visitor_qr")])
    with transaction() as s:
        clean = reconcile(s)
    assert clean.drift == [] and not clean.repaired
    assert REGISTRY.get_sample_value("gridpulse_population_drift") == 0
    truth = by("building")
    # Deliberate drift: a counter off by 5, a presence row lost, a stray counter for a building.
    with transaction() as s:
        s.execute(text("UPDATE population_live SET away = away + 5 WHERE building_id = :b"), {"b": p.building_a1})
        s.execute(text("DELETE FROM population_live WHERE building_id = :b"), {"b": p.building_b1})
    assert by("building") != truth
    with transaction() as s:
        checked = reconcile(s, repair=False)
    assert {d.building_id for d in checked.drift} == {p.building_a1, p.building_b1} and not checked.repaired
    assert by("building") != truth  # a check alone changes nothing
    with caplog.at_level("WARNING", logger="gridpulse.population"):
        with transaction() as s:
            fixed = reconcile(s)
    assert fixed.repaired and fixed.drift_persons == 5 + 2
    assert REGISTRY.get_sample_value("gridpulse_population_drift") == 7
    assert "drifted in 2 buildings" in caplog.text
    assert by("building") == truth
    assert_agrees()
    with transaction() as s:
        assert reconcile(s).drift == []
    # After the rebuild the triggers go on from the rebuilt rows.
    land(conn, [ev(world, t - 30 * 60 * dt.timedelta(seconds=1), "in", person=p.person_a)])
    assert by("building")[p.building_a1] == (1, 1, 1)
    assert_agrees()


def test_the_scheduler_and_the_command_line_reconcile(world: dict) -> None:
    import json
    import subprocess
    import sys

    from ops.schedule import jobs, run_job
    from tests.conftest import ROOT

    p, conn, t = world["p"], world["conn"], now()
    land(conn, [ev(world, t - H, "out", person=p.person_b)])
    named = {j.name: j for j in jobs()}
    assert named["population_expire"].every_s == 60 and named["population_reconcile"].every_s == 3600
    with transaction() as s:
        s.execute(text("UPDATE population_live SET residents = residents + 3 WHERE building_id = :b"), {"b": p.building_b1})
    cli = [sys.executable, str(ROOT / "cli.py"), "population", "reconcile"]
    checked = subprocess.run([*cli, "--check-only"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    assert report["drifted_buildings"] == 1 and report["drift_persons"] == 3 + 3 and not report["repaired"]
    assert report["examples"] == [{"building": p.building_b1, "maintained": [4, 3, 0], "recomputed": [1, 0, 0]}]
    assert run_job(named["population_reconcile"]) is True  # the scheduled job repairs it
    fixed = subprocess.run([*cli, "--check-only"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["drifted_buildings"] == 0
    assert run_job(named["population_expire"]) is True
    shown = subprocess.run([sys.executable, str(ROOT / "cli.py"), "population", "show", "--level", "community"],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert shown.returncode == 0 and f"{P.COMMUNITY_B}\t居民 1\t在内 0\t访客 0\t实时人口 0" in shown.stdout
