"""Issue #16 item 15 (exports cannot rebuild an ID number) and the CLI part of item 16 (the CLI acts as
an account only with its credentials), through the real command line (`python cli.py export …`).

The attack: take an export row's masked ID number, birth date and sex, and the district its grid code
gives away, and enumerate the ID numbers that fit (intake/reidentification.py counts them). Every
export any role can make must leave at least 10⁴; the stored mask beside a birth date leaves one.
"""
from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from blockdata.db import transaction
from blockdata.models import Person
from intake.exports import LAYERS
from intake.reidentification import MIN_CANDIDATES, id_candidates
from tests import places as P
from tests.browser import ROOT
from tests.security.dashboard_app import PASSWORD, audit_since, last_audit_id

ROLES = ["admin", "street", "police", "supervisor", "worker"]
BIRTH_COLUMNS = {"birth_date", "birthday", "dob", "birth", "出生日期"}


def cli_export(layer: str, path: Path, user: str, password: str | None, reason: str = "季度人口核查") -> subprocess.CompletedProcess:
    args = [sys.executable, "cli.py", "export", layer, str(path), "--user", user, "--reason", reason]
    if password is not None:
        args.append("--password-stdin")
    return subprocess.run(args, cwd=ROOT, input=(password or "") + "\n", capture_output=True, text=True, timeout=120)


def _rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("# GridPulse export by")
    return list(csv.DictReader(lines[1:]))


def _min_candidates(rows: list[dict[str, str]], today: dt.date) -> int:
    """The fewest ID numbers any row leaves, with everything the row says (district from its grid code)."""
    counts = []
    for r in rows:
        # a layer without places (the departments' tags) names no district: any region the prefix allows
        counts.append(id_candidates(r["id_masked"], district=r["grid_code"][:6] if r.get("grid_code") else None,
                                    birth_date=dt.date.fromisoformat(r["birth_date"]) if r.get("birth_date") else None,
                                    age=int(r["age"]) if r.get("age") else None, sex=r.get("sex") or None, as_of=today))
    return min(counts)


@pytest.mark.parametrize("role", ROLES)
def test_no_export_a_role_can_make_narrows_an_id_number_below_ten_thousand(users: dict[str, str], role: str,
                                                                           tmp_path: Path) -> None:
    personal = [name for name, layer in LAYERS.items() if layer.personal]
    assert personal  # the people list at least
    for layer in personal:
        path = tmp_path / f"{layer}-{role}.csv"
        done = cli_export(layer, path, users[role], PASSWORD)
        assert done.returncode == 0, done.stderr
        rows = _rows(path)
        assert rows, f"{role} exported no {layer}: the check would pass vacuously"
        assert not BIRTH_COLUMNS & {c.lower() for c in rows[0]}, rows[0].keys()
        assert _min_candidates(rows, dt.date.today()) >= MIN_CANDIDATES


def test_the_stored_mask_beside_a_birth_date_is_what_the_check_catches(places: P.Places) -> None:
    """The hard negative: what the people export held before (the stored mask, birth date, sex) names the one
    true ID number; the same counter on the export's columns leaves six figures."""
    today = dt.date.today()
    with transaction() as s:
        person = s.scalars(select(Person).where(Person.id == places.person_a)).one()
        stored, born, sex = person.id_masked, person.birth_date, person.sex.value
    assert id_candidates(stored, district="320102", birth_date=born, sex=sex, as_of=today) == 1
    assert id_candidates(stored, district="320102", sex=sex, as_of=today) < MIN_CANDIDATES  # last four + district
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    assert id_candidates(stored[:4] + "*" * 14, district="320102", age=age, sex=sex, as_of=today) >= MIN_CANDIDATES


def test_the_cli_acts_as_an_account_only_with_its_password(users: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    first = last_audit_id()
    no_password = cli_export("people", path, users["admin"], None)  # stdin is no terminal and no --password-stdin
    assert no_password.returncode != 0 and "password" in no_password.stderr and not path.exists()
    wrong = cli_export("people", path, users["admin"], "not-the-password")
    assert wrong.returncode != 0 and "wrong password" in wrong.stderr and not path.exists()
    unknown = cli_export("people", path, "no-such-account", "whatever")
    assert unknown.returncode != 0 and not path.exists()
    failures = audit_since(first, "login.failed")
    assert [(r.username, r.detail["via"]) for r in failures] == [(users["admin"], "cli export"),
                                                                  ("no-such-account", "cli export")]
    assert audit_since(first, "export") == []


def test_a_named_system_actor_is_shown_as_such_and_a_bare_system_is_refused(users: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    bare = cli_export("people", path, "system", None)
    assert bare.returncode != 0 and "system:<name>" in bare.stderr and not path.exists()
    first = last_audit_id()
    done = cli_export("people", path, "system:nightly-export", None)
    assert done.returncode == 0, done.stderr
    rows = audit_since(first, "export")
    assert [(r.username, r.account_id, r.subject) for r in rows] == [("system:nightly-export", None, "layer:people")]
    assert "system:nightly-export" in path.read_text(encoding="utf-8-sig").splitlines()[0]
