"""Importing addresses, dwellings, people, ownership and rentals from CSV and xlsx."""
from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from intake.addresses.review import review_queue
from blockdata.db import transaction
from intake.importers import ImportRefused, run_import
from blockdata.models import Address, Dwelling, Ownership, Person, Rental
from tests import places as P
from tests.places import count

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"
ID_1 = "320102198001010112"


def reasons(report) -> dict[int, list[str]]:  # noqa: ANN001
    out: dict[int, list[str]] = {}
    for p in report.problems:
        out.setdefault(p.row, []).append(f"{p.status}: {p.reason}")
    return out


def test_messy_dwellings_are_reported_and_refused(places: P.Places) -> None:
    before = count(Dwelling)
    with pytest.raises(ImportRefused) as err:
        run_import("dwellings", FIX / "dwellings_messy.csv")
    got = reasons(err.value.report)
    assert 2 not in got
    assert "already exists" in got[3][0]
    assert "unknown building code NO-SUCH" in got[4][0]
    assert "outside building XW-B001" in got[5][0]
    assert "unknown use 'hotel'" in got[6][0]
    assert count(Dwelling) == before


def test_people_are_checked_hashed_masked_and_never_stored_plain(places: P.Places, tmp_path: Path) -> None:
    out = tmp_path / "people_report.csv"
    with pytest.raises(ImportRefused):
        run_import("people", FIX / "people_messy.csv", report_path=out)
    got = reasons(run_import("people", FIX / "people_messy.csv", dry_run=True))
    assert "check digit" in got[3][0]
    assert "in the future" in got[4][0]
    assert "same person is on row 2" in got[5][0]
    assert "needs a temporary-residence expiry" in got[6][0]
    assert "unknown dwelling code NO-SUCH-DWELLING" in got[7][0]
    assert ID_1 not in out.read_text(encoding="utf-8-sig")  # the report names people by the masked form
    assert "3201**********0112" in out.read_text(encoding="utf-8-sig")

    report = run_import("people", FIX / "people.csv")
    assert report.ok and report.summary["written"] == 3
    with transaction() as s:
        zhang = s.scalar(select(Person).where(Person.name == "张三"))
        assert zhang.id_masked == "3201**********0112" and len(zhang.id_hash) == 32
        assert zhang.phone_masked == "138****5678" and zhang.home_dwelling_id == places.dwelling_a1
        li = s.scalar(select(Person).where(Person.name == "李四"))
        assert li.sex.value == "F" and li.residence_kind.value == "floating"
        dump = " ".join(str(v) for p in s.scalars(select(Person)) for v in vars(p).values())
    assert ID_1 not in dump
    with pytest.raises(ImportRefused, match="already in the database"):
        run_import("people", FIX / "people.csv")


def test_ownership_and_rentals(places: P.Places) -> None:
    run_import("dwellings", FIX / "dwellings.csv")
    with pytest.raises(ImportRefused) as err:
        run_import("ownership", FIX / "ownership.csv")
    got = reasons(err.value.report)
    assert 2 not in got and "in the future" in got[3][0] and "unknown person" in got[4][0]
    with pytest.raises(ImportRefused) as err:
        run_import("rentals", FIX / "rentals.csv")
    got = reasons(err.value.report)
    assert 2 not in got and "needs a reason" in got[3][0]
    assert count(Ownership) == 0 and count(Rental) == 0


def test_people_from_xlsx(places: P.Places, tmp_path: Path) -> None:
    import datetime as dt

    from blockdata.identity import check_digit

    first17 = "32010219850520021"
    wb = Workbook()
    ws = wb.active
    ws.append(["身份证号", "姓名", "性别", "出生日期", "人口类型"])
    ws.append([first17 + check_digit(first17), "陈七", "男", dt.datetime(1985, 5, 20), "常住"])
    ws.append([None, None, None, None, None])
    path = tmp_path / "people.xlsx"
    wb.save(path)
    report = run_import("people", path)
    assert report.ok and report.rows == 1 and report.summary["written"] == 1


def test_addresses_parse_match_and_queue(places: P.Places) -> None:
    report = run_import("addresses", FIX / "addresses.csv")
    assert report.ok
    assert report.summary["non_standard"] == 3 and report.summary["matched"] == 2
    assert report.summary["match_rate"] == pytest.approx(2 / 3, abs=1e-3)
    with transaction() as s:
        by_code = {a.code: a for a in s.scalars(select(Address))}
        assert by_code["XW-N001"].standard_id == by_code["XW-A001"].id  # full-width, 一撞, 三〇一
        assert by_code["XW-N002"].standard_id == by_code["XW-A002"].id
        assert by_code["XW-N003"].standard_id is None
        assert by_code["XW-A001"].building == "1" and by_code["XW-A001"].room == "301"
        assert by_code["XW-P001"].geom is not None and by_code["XW-V001"].kind.value == "virtual"
        queue = review_queue(s)
    assert [q.code for q in queue] == ["XW-N003"]
    assert [p.status for p in report.problems if p.row == 7] == ["review"]
