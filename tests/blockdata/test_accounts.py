"""`gridpulse accounts …` as an installer and an admin use it: the first admin of an empty database, duty areas
by role, disabling, password resets; every change audited as its actor; bad input refused with nothing changed."""
from __future__ import annotations

import getpass
import io
import re

import pytest
from sqlalchemy import func, select, text

from cli import main
from core.passwords import verify_password
from blockdata.db import transaction
from blockdata.models import Account, AuditLog, Grid
from tests import places as P
from tests.audit import AuditMark

GRID_A1, GRID_A2, GRID_B1 = P.COMMUNITY_A + "001", P.COMMUNITY_A + "002", P.COMMUNITY_B + "001"
SHOWN = re.compile(r"password of (\S+) \(shown once, only its hash is stored\): (\S+)")


@pytest.fixture(scope="module")
def empty(database_url: str) -> None:
    with transaction() as s:
        P.empty_tables(s)


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:  # noqa: ANN001
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin or ""))
    rc = main(["accounts", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def account(username: str) -> Account | None:
    with transaction() as s:
        a = s.scalar(select(Account).where(Account.username == username))
        if a is not None:
            s.expunge(a)
        return a


def audit_rows(mark: AuditMark, subject: str, action: str) -> list[AuditLog]:
    """The audit rows this test caused about one account."""
    return mark.rows(subject=subject, action=action)


def grid_links(code: str) -> tuple[int | None, int | None]:
    with transaction() as s:
        g = s.scalar(select(Grid).where(Grid.code == code))
        return g.worker_account_id, g.supervisor_account_id


def test_first_admin_of_an_empty_database_with_a_generated_password(empty: None, capsys) -> None:  # noqa: ANN001
    mark = AuditMark()
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(Account)) == 0
    rc, out, _ = run(capsys, "create", "root", "--role", "admin", "--name", "平台管理员", "--generate")
    assert rc == 0
    shown = SHOWN.search(out)
    assert shown and shown.group(1) == "root"
    password = shown.group(2)
    root = account("root")
    assert root.role.value == "admin" and root.active and root.display_name == "平台管理员"
    assert root.password_hash != password and verify_password(root.password_hash, password)
    (entry,) = audit_rows(mark, "account:root", "account.create")
    assert entry.username == f"cli:{getpass.getuser()}" and entry.account_id is None
    assert password not in str(entry.detail) and entry.detail["password"] == "generated"
    # the list shows it, never a password or hash
    rc, out, _ = run(capsys, "list")
    assert rc == 0 and "root\tadmin\tyes" in out and password not in out and "argon2" not in out


def test_passwords_typed_twice_must_agree_and_be_long(empty: None, capsys, monkeypatch) -> None:  # noqa: ANN001
    rc, _, err = run(capsys, "create", "root2", "--role", "admin", stdin="correct-horse-1\ncorrect-horse-2\n",
                     monkeypatch=monkeypatch)
    assert rc == 2 and "the two passwords differ" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run(capsys, "create", "root2", "--role", "admin", stdin="short\nshort\n", monkeypatch=monkeypatch)
    assert rc == 2 and "at least 10 characters" in err
    rc, _, err = run(capsys, "create", "root2", "--role", "admin", stdin="only-once-typed\n", monkeypatch=monkeypatch)
    assert rc == 2 and "twice" in err
    assert account("root2") is None
    rc, out, _ = run(capsys, "create", "root2", "--role", "admin", stdin="correct-horse-1\ncorrect-horse-1\n",
                     monkeypatch=monkeypatch)
    assert rc == 0 and "shown once" not in out  # a typed password is never echoed
    assert verify_password(account("root2").password_hash, "correct-horse-1")


@pytest.fixture(scope="module")
def street(empty: None, database_url: str) -> None:
    """The small Xuanwu hierarchy (2 communities, 3 grids), with the accounts of the tests above kept."""
    with transaction() as s:
        kept = s.execute(text("SELECT username, display_name, role, password_hash FROM account")).all()
        P.build(s)
        for username, name, role, hashed in kept:
            s.add(Account(username=username, display_name=name, role=role, password_hash=hashed))


def test_duty_areas_by_role_and_their_grids(street: None, capsys) -> None:  # noqa: ANN001
    # hard negatives: the lookalike code of the wrong level for each role, a code that does not exist
    for argv, message in [
        (("w1", "--role", "worker", "--area", P.COMMUNITY_A), "a worker's area is grids"),
        (("w1", "--role", "worker"), "needs a duty area"),
        (("w1", "--role", "worker", "--area", P.COMMUNITY_A + "009"), "no grid"),
        (("s1", "--role", "supervisor", "--area", GRID_A1), "regions (12-digit codes)"),
        (("s1", "--role", "supervisor", "--area", P.STREET), "is a street"),
        (("c1", "--role", "street", "--area", "320102099000"), "no region 320102099000"),
        (("x1", "--role", "admin", "--area", P.STREET), "an admin has no duty area"),
        (("bad name", "--role", "admin"), "a username has"),
    ]:
        rc, _, err = run(capsys, "create", *argv, "--generate")
        assert rc == 2 and message in err, (argv, err)
        assert account(argv[0]) is None
    assert run(capsys, "create", "w1", "--role", "worker", "--area", GRID_A1, "--generate")[0] == 0
    assert run(capsys, "create", "s1", "--role", "supervisor", "--area", P.COMMUNITY_A, "--generate")[0] == 0
    assert run(capsys, "create", "c1", "--role", "street", "--area", P.STREET, "--name", "指挥中心", "--generate")[0] == 0
    w1, s1 = account("w1"), account("s1")
    assert grid_links(GRID_A1) == (w1.id, s1.id)
    assert grid_links(GRID_A2) == (None, s1.id)  # the supervisor has every grid of the community
    assert grid_links(GRID_B1) == (None, None)  # the other community's grid has neither
    rc, _, err = run(capsys, "create", "w1", "--role", "worker", "--area", GRID_A2, "--generate")
    assert rc == 2 and "taken" in err


def test_assign_moves_a_worker_and_is_audited_with_before_and_after(street: None, capsys) -> None:  # noqa: ANN001
    mark = AuditMark()
    rc, _, err = run(capsys, "assign", "w1", "--area", P.COMMUNITY_B)  # a community for a worker: refused, unchanged
    assert rc == 2 and "grids" in err and account("w1").jurisdiction == [GRID_A1]
    rc, out, _ = run(capsys, "assign", "w1", "--area", GRID_B1, "--as", "root")
    assert rc == 0 and GRID_B1 in out
    w1 = account("w1")
    assert w1.jurisdiction == [GRID_B1]
    assert grid_links(GRID_B1)[0] == w1.id and grid_links(GRID_A1)[0] is None
    (entry,) = audit_rows(mark, "account:w1", "account.assign")
    assert entry.username == "root" and entry.account_id == account("root").id
    assert entry.detail["before"]["jurisdiction"] == [GRID_A1] and entry.detail["after"]["jurisdiction"] == [GRID_B1]
    # a worker promoted to supervisor of the other community: the grid loses its worker, gains a supervisor
    assert run(capsys, "assign", "w1", "--role", "supervisor", "--area", P.COMMUNITY_B)[0] == 0
    assert grid_links(GRID_B1) == (None, account("w1").id)


def test_only_an_active_admin_may_act_by_name(street: None, capsys) -> None:  # noqa: ANN001
    mark = AuditMark()
    before = len(audit_rows(mark, "account:c1", "account.disable"))
    rc, _, err = run(capsys, "disable", "c1", "--as", "s1")
    assert rc == 2 and "active admin" in err
    assert account("c1").active and len(audit_rows(mark, "account:c1", "account.disable")) == before


def test_disable_enable_and_the_last_admin(street: None, capsys) -> None:  # noqa: ANN001
    assert run(capsys, "disable", "s1")[0] == 0
    assert not account("s1").active and grid_links(GRID_A1)[1] is None  # its grids lose their supervisor
    rc, _, err = run(capsys, "disable", "s1")
    assert rc == 2 and "already disabled" in err
    assert run(capsys, "enable", "s1")[0] == 0
    assert account("s1").active and grid_links(GRID_A1)[1] == account("s1").id
    assert run(capsys, "disable", "root2")[0] == 0
    rc, _, err = run(capsys, "disable", "root")  # the last active admin: refused, still active
    assert rc == 2 and "last active admin" in err and account("root").active
    rc, _, err = run(capsys, "assign", "root", "--role", "police", "--area", P.STREET)
    assert rc == 2 and "last active admin" in err and account("root").role.value == "admin"
    rc, _, err = run(capsys, "disable", "nobody")
    assert rc == 2 and "no account 'nobody'" in err


def test_reset_password_replaces_the_old_one(street: None, capsys) -> None:  # noqa: ANN001
    mark = AuditMark()
    old_hash = account("c1").password_hash
    rc, out, _ = run(capsys, "reset-password", "c1", "--generate", "--as", "root")
    new = SHOWN.search(out).group(2)
    hashed = account("c1").password_hash
    assert rc == 0 and hashed != old_hash and verify_password(hashed, new)
    (entry,) = audit_rows(mark, "account:c1", "account.reset_password")
    assert entry.username == "root" and new not in str(entry.detail)
