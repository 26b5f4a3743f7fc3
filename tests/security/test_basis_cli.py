"""Issue 16 item 1, without SQL: `gridpulse basis grant|revoke|list` records the legal basis that switches a
compound's population-library fallback on, as an admin (with its password) or a named system actor.

Performed as the street office's admin would: the real CLI against PostGIS; whether the fallback is on is
asked of the platform the way the gate bridge asks it (gp_population_identify, as the bridge's own database
role). Each grant and revocation is in the audit log with the basis and who; bad input and non-admins are
refused with one line and change nothing.
"""
from __future__ import annotations

import datetime as dt
import io
import uuid
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest
from sqlalchemy import select, text

from blockdata.db import transaction
from blockdata.models import Account, PopulationBasis
from cli import main
from core.passwords import hash_password
from core.viewer import Role
from tests.audit import AuditMark
from tests.gate_fixtures import GateWorld, build_gate_world, remove_gate_world
from tests.security.roles import role_dsn

STREET_TZ = ZoneInfo("Asia/Shanghai")  # GRIDPULSE_TIMEZONE's default: the street's days end at its midnight
ADMIN_PASSWORD = "legal-desk-2026!"
WORKER_PASSWORD = "grid-worker-2026!"
DOCUMENT = "公安机关协查函 2026-118"


@pytest.fixture(scope="module")
def world(database_url: str):  # noqa: ANN201
    w = build_gate_world(fake_faces_seed=61)
    tag = uuid.uuid4().hex[:6]
    admin, worker = f"basis-admin-{tag}", f"basis-worker-{tag}"
    with transaction() as s:
        grid = s.execute(text("SELECT g.code FROM grid g JOIN building b ON b.grid_id = g.id WHERE b.compound_id = :a LIMIT 1"),
                         {"a": w.compound_a}).scalar_one()
        s.add(Account(username=admin, display_name="法制办", role=Role.admin, password_hash=hash_password(ADMIN_PASSWORD)))
        s.add(Account(username=worker, display_name="网格员", role=Role.worker, jurisdiction=[grid],
                      password_hash=hash_password(WORKER_PASSWORD)))
    codes = {}
    with transaction() as s:
        for key, cid in (("a", w.compound_a), ("b", w.compound_b)):
            codes[key] = s.execute(text("SELECT code FROM compound WHERE id = :c"), {"c": cid}).scalar_one()
    yield {"w": w, "admin": admin, "worker": worker, "codes": codes}
    with transaction() as s:
        s.execute(text("DELETE FROM population_basis WHERE compound_id = ANY(:c)"), {"c": [w.compound_a, w.compound_b]})
        s.execute(text("DELETE FROM account WHERE username = ANY(:u)"), {"u": [admin, worker]})
    remove_gate_world(w)


@pytest.fixture(autouse=True)
def no_basis(world: dict):  # noqa: ANN201
    """Each test starts and ends with neither compound holding a basis."""
    yield
    with transaction() as s:
        s.execute(text("DELETE FROM population_basis WHERE compound_id = ANY(:c)"),
                  {"c": [world["w"].compound_a, world["w"].compound_b]})


def basis(capsys, monkeypatch, *argv: str, password: str | None = None) -> tuple[int, str, str]:  # noqa: ANN001
    """Run `gridpulse basis …` with ``password`` as the first line of stdin (stdin is never a terminal here)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{password}\n" if password is not None else ""))
    rc = main(["basis", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def grant_args(world: dict, *, compound: str = "a", until: dt.date | None = None, document: str = DOCUMENT,
               user: str | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    code = world["codes"].get(compound, compound)
    args = ["grant", "--compound", code, "--document", document,
            "--until", (until or street_today() + dt.timedelta(days=30)).isoformat(), "--user", user or world["admin"]]
    if not (user or "").startswith("system:"):
        args.append("--password-stdin")
    return args + list(extra)


def street_today() -> dt.date:
    return dt.datetime.now(STREET_TZ).date()


def bases(compound_id: int) -> list[PopulationBasis]:
    with transaction() as s:
        rows = list(s.scalars(select(PopulationBasis).where(PopulationBasis.compound_id == compound_id)
                              .order_by(PopulationBasis.id)))
        s.expunge_all()
        return rows


def fallback(w: GateWorld, compound_id: int, gate_id: int, seed: int) -> tuple:
    """What the bridge's own role gets when a face found only in the population library comes to the gate."""
    vector = w.embeddings["population_only"] + np.random.default_rng(seed).normal(scale=0.02, size=512)
    with psycopg.connect(role_dsn("gridpulse_bridge"), autocommit=True) as conn:
        return conn.execute("SELECT outcome, person_id FROM gp_population_identify(%s, %s, %s::real[], 0.35, 0.05)",
                            (compound_id, gate_id, [float(x) for x in vector])).fetchone()


def test_an_admin_grants_a_basis_the_fallback_searches_and_revoking_switches_it_off(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001,E501
    w: GateWorld = world["w"]
    assert fallback(w, w.compound_a, w.gate_a, 1) == ("no_basis", None)
    last_day = street_today() + dt.timedelta(days=90)
    mark = AuditMark()
    rc, out, err = basis(capsys, monkeypatch, *grant_args(world, until=last_day, extra=("--per-minute", "12")),
                         password=ADMIN_PASSWORD)
    assert rc == 0, err
    (row,) = bases(w.compound_a)
    assert f"basis #{row.id}" in out and world["codes"]["a"] in out
    assert row.granted_by == world["admin"] and row.document == DOCUMENT and row.lookups_per_minute == 12
    assert row.revoked_at is None
    # through the last day named, in the street's time zone: the next local midnight
    assert row.valid_until == dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=STREET_TZ)
    (entry,) = mark.rows(action="population_basis.grant")
    assert entry.subject == f"population_basis:{row.id}" and entry.username == world["admin"]
    assert entry.account_id is not None and entry.role == "admin" and entry.reason == DOCUMENT
    assert entry.detail["basis_id"] == row.id and entry.detail["compound"] == world["codes"]["a"]
    assert entry.detail["lookups_per_minute"] == 12
    assert [e.username for e in mark.rows(action="login")] == [world["admin"]]
    # the gate's fallback is on for compound A now, and finds the person; compound B still has none
    assert fallback(w, w.compound_a, w.gate_a, 2) == ("match", w.people["population_only"])
    assert fallback(w, w.compound_b, w.gate_b, 3) == ("no_basis", None)

    mark = AuditMark()
    rc, out, err = basis(capsys, monkeypatch, "revoke", str(row.id), "--user", world["admin"], "--password-stdin",
                         password=ADMIN_PASSWORD)
    assert rc == 0, err
    assert f"basis #{row.id} revoked" in out
    (after,) = bases(w.compound_a)
    assert after.revoked_at is not None
    (entry,) = mark.rows(action="population_basis.revoke")
    assert entry.subject == f"population_basis:{row.id}" and entry.username == world["admin"]
    assert entry.detail["compound"] == world["codes"]["a"] and entry.detail["basis_id"] == row.id
    assert fallback(w, w.compound_a, w.gate_a, 4) == ("no_basis", None)
    rc, out, _ = basis(capsys, monkeypatch, "list", "--compound", world["codes"]["a"])
    assert rc == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[1].split("\t")[:4] == [str(row.id), world["codes"]["a"], f"compound A {w.tag}", "revoked"]


def test_a_named_system_actor_grants_without_a_password_and_is_named_as_the_granter(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001,E501
    w: GateWorld = world["w"]
    mark = AuditMark()
    rc, _, err = basis(capsys, monkeypatch, *grant_args(world, compound="b", user="system:legal-desk"))
    assert rc == 0, err
    (row,) = bases(w.compound_b)
    assert row.granted_by == "system:legal-desk" and row.lookups_per_minute == 30
    (entry,) = mark.rows(action="population_basis.grant")
    assert entry.username == "system:legal-desk" and entry.account_id is None
    assert entry.subject == f"population_basis:{row.id}"


def test_a_basis_through_today_is_live_and_one_through_yesterday_is_refused(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001,E501
    """'Today' is the street's day (Asia/Shanghai), not the server's UTC day: around UTC midnight they differ."""
    w: GateWorld = world["w"]
    today = street_today()
    mark = AuditMark()
    rc, _, err = basis(capsys, monkeypatch, *grant_args(world, until=today - dt.timedelta(days=1)), password=ADMIN_PASSWORD)
    assert rc == 2 and "--until" in err and "in the past" in err and today.isoformat() in err
    assert len(err.strip().splitlines()) == 1
    assert bases(w.compound_a) == [] and mark.rows(action="population_basis.grant") == []
    rc, _, err = basis(capsys, monkeypatch, *grant_args(world, until=today), password=ADMIN_PASSWORD)
    assert rc == 0, err
    (row,) = bases(w.compound_a)
    assert row.valid_until == dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), tzinfo=STREET_TZ)
    assert fallback(w, w.compound_a, w.gate_a, 5)[0] == "match"


@pytest.mark.parametrize("case, change, message", [
    ("unknown compound", {"compound": "NOSUCH-1"}, "no compound with code 'NOSUCH-1'"),
    ("blank document", {"document": "   "}, "name the document"),
    ("empty document", {"document": ""}, "name the document"),
    ("no searches", {"extra": ("--per-minute", "0")}, "give 1 to 600"),
    ("too many searches", {"extra": ("--per-minute", "601")}, "give 1 to 600"),
    ("document too long", {"document": "函" * 257}, "at most 256"),
    ("the end of the calendar", {"until": dt.date.max}, "ends on a real day"),
])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(world: dict, capsys, monkeypatch, case: str,  # noqa: ANN001
                                                              change: dict, message: str) -> None:
    w: GateWorld = world["w"]
    mark = AuditMark()
    rc, out, err = basis(capsys, monkeypatch, *grant_args(world, **change), password=ADMIN_PASSWORD)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""
    assert bases(w.compound_a) == [] and bases(w.compound_b) == []
    assert mark.rows(action="population_basis.grant") == []


def test_a_malformed_day_is_refused_by_the_parser(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("sys.stdin", io.StringIO(ADMIN_PASSWORD + "\n"))
    args = grant_args(world)
    args[args.index("--until") + 1] = "30/06/2027"
    with pytest.raises(SystemExit) as exited:
        main(["basis", *args])
    assert exited.value.code == 2 and "write YYYY-MM-DD" in capsys.readouterr().err
    assert bases(world["w"].compound_a) == []


def test_a_grid_worker_with_the_right_password_may_not_grant_and_the_refusal_is_audited(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001,E501
    w: GateWorld = world["w"]
    mark = AuditMark()
    rc, _, err = basis(capsys, monkeypatch, *grant_args(world, user=world["worker"]), password=WORKER_PASSWORD)
    assert rc == 2 and "only an admin account" in err and len(err.strip().splitlines()) == 1
    assert bases(w.compound_a) == [] and mark.rows(action="population_basis.grant") == []
    (denied,) = mark.rows(action="access.denied", username=world["worker"])
    assert denied.subject == f"compound:{world['codes']['a']}" and denied.role == "worker"
    assert fallback(w, w.compound_a, w.gate_a, 6) == ("no_basis", None)


def test_an_admin_name_without_its_password_grants_nothing(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001
    w: GateWorld = world["w"]
    mark = AuditMark()
    rc, _, err = basis(capsys, monkeypatch, *grant_args(world), password="not-the-password")
    assert rc == 2 and "wrong password" in err
    (failed,) = mark.rows(action="login.failed", username=world["admin"])
    assert failed.subject == f"account:{world['admin']}"
    args = [a for a in grant_args(world) if a != "--password-stdin"]  # no terminal, no --password-stdin
    rc, _, err = basis(capsys, monkeypatch, *args)
    assert rc == 2 and "needs that account's password" in err
    assert bases(w.compound_a) == [] and mark.rows(action="population_basis.grant") == []


def test_a_second_live_basis_is_refused_until_the_first_is_revoked_and_other_compounds_are_independent(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001,E501
    w: GateWorld = world["w"]
    assert basis(capsys, monkeypatch, *grant_args(world), password=ADMIN_PASSWORD)[0] == 0
    (first,) = bases(w.compound_a)
    rc, _, err = basis(capsys, monkeypatch, *grant_args(world, document="另一份函"), password=ADMIN_PASSWORD)
    assert rc == 2 and f"already has a live basis #{first.id}" in err and f"gridpulse basis revoke {first.id}" in err
    assert [b.id for b in bases(w.compound_a)] == [first.id]
    # the other compound is another place: its own basis is allowed beside A's
    assert basis(capsys, monkeypatch, *grant_args(world, compound="b"), password=ADMIN_PASSWORD)[0] == 0
    assert len(bases(w.compound_b)) == 1
    # once the first is revoked, a new one may be granted
    assert basis(capsys, monkeypatch, "revoke", str(first.id), "--user", "system:legal-desk")[0] == 0
    assert basis(capsys, monkeypatch, *grant_args(world, document="另一份函"), password=ADMIN_PASSWORD)[0] == 0
    assert [b.document for b in bases(w.compound_a)] == [DOCUMENT, "另一份函"]


def test_revoking_an_unknown_or_already_revoked_basis_is_refused(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001
    w: GateWorld = world["w"]
    assert basis(capsys, monkeypatch, *grant_args(world, user="system:legal-desk"))[0] == 0
    (row,) = bases(w.compound_a)
    assert basis(capsys, monkeypatch, "revoke", str(row.id), "--user", "system:legal-desk")[0] == 0
    revoked_at = bases(w.compound_a)[0].revoked_at
    mark = AuditMark()
    rc, _, err = basis(capsys, monkeypatch, "revoke", str(row.id), "--user", "system:legal-desk")
    assert rc == 2 and f"basis #{row.id} was already revoked" in err
    assert bases(w.compound_a)[0].revoked_at == revoked_at  # not re-dated
    with transaction() as s:
        unknown = s.execute(text("SELECT coalesce(max(id), 0) + 1000 FROM population_basis")).scalar_one()
    rc, _, err = basis(capsys, monkeypatch, "revoke", str(unknown), "--user", "system:legal-desk")
    assert rc == 2 and f"no legal basis #{unknown}" in err
    assert mark.rows(action="population_basis.revoke") == []


def test_a_grid_worker_may_not_revoke(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001
    w: GateWorld = world["w"]
    assert basis(capsys, monkeypatch, *grant_args(world, user="system:legal-desk"))[0] == 0
    (row,) = bases(w.compound_a)
    mark = AuditMark()
    rc, _, err = basis(capsys, monkeypatch, "revoke", str(row.id), "--user", world["worker"], "--password-stdin",
                       password=WORKER_PASSWORD)
    assert rc == 2 and "only an admin account" in err
    assert bases(w.compound_a)[0].revoked_at is None and mark.rows(action="population_basis.revoke") == []
    (denied,) = mark.rows(action="access.denied", username=world["worker"])
    assert denied.subject == f"population_basis:{row.id}"
    assert fallback(w, w.compound_a, w.gate_a, 7)[0] == "match"


def test_the_list_shows_each_compounds_bases_with_their_status(world: dict, capsys, monkeypatch) -> None:  # noqa: ANN001
    w: GateWorld = world["w"]
    with transaction() as s:  # an expired basis, as an earlier decision left it
        expired = s.execute(text("""INSERT INTO population_basis (compound_id, granted_by, document, valid_from, valid_until)
                                    VALUES (:c, 'Wang', '旧函', now() - interval '60 days', now() - interval '1 day')
                                    RETURNING id"""), {"c": w.compound_a}).scalar_one()
    assert basis(capsys, monkeypatch, *grant_args(world), password=ADMIN_PASSWORD)[0] == 0
    assert basis(capsys, monkeypatch, *grant_args(world, compound="b", user="system:legal-desk"))[0] == 0
    rc, out, _ = basis(capsys, monkeypatch, "list", "--compound", world["codes"]["a"])
    assert rc == 0
    rows = [line.split("\t") for line in out.strip().splitlines()[1:]]
    assert [(r[1], r[3], r[5]) for r in rows] == [(world["codes"]["a"], "live", DOCUMENT),
                                                   (world["codes"]["a"], "expired", "旧函")]
    assert rows[1][0] == str(expired)
    rc, out, _ = basis(capsys, monkeypatch, "list")
    listed = {tuple(line.split("\t")[1:4:2]) for line in out.strip().splitlines()[1:]}
    assert {(world["codes"]["a"], "live"), (world["codes"]["b"], "live"), (world["codes"]["a"], "expired")} <= listed
    rc, _, err = basis(capsys, monkeypatch, "list", "--compound", "NOSUCH-2")
    assert rc == 2 and "no compound with code 'NOSUCH-2'" in err


def test_two_grants_for_one_compound_at_once_leave_one_live_basis(world: dict) -> None:
    """The second grant waits for the first's transaction and then sees its basis, though it began earlier."""
    import threading

    from blockdata import population_basis
    from blockdata.cli_actor import system_actor
    from core.errors import InvalidInput

    w: GateWorld = world["w"]
    desk = system_actor("system:legal-desk")
    last_day = street_today() + dt.timedelta(days=10)
    second_started, outcome = threading.Event(), {}

    def second() -> None:
        try:
            with transaction() as s:
                s.execute(text("SELECT now()"))  # its transaction (and now()) begins before the first commits
                second_started.set()
                population_basis.grant(s, desk, compound_code=world["codes"]["a"], document="第二份", last_day=last_day)
            outcome["second"] = "granted"
        except InvalidInput as exc:
            outcome["second"] = str(exc)

    with transaction() as s:
        population_basis.grant(s, desk, compound_code=world["codes"]["a"], document=DOCUMENT, last_day=last_day)
        thread = threading.Thread(target=second)
        thread.start()
        assert second_started.wait(10)
        thread.join(1)
        assert thread.is_alive()  # waiting for the first grant's transaction
    thread.join(10)
    assert "already has a live basis" in outcome["second"]
    assert [b.document for b in bases(w.compound_a)] == [DOCUMENT]
