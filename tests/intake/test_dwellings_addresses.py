"""`gridpulse dwellings generate`, the standard addresses it gives every compound, building, unit and dwelling,
addresses linked by where they are as well as what they say, and `review requeue` once standard addresses
arrive after the messy ones."""
from __future__ import annotations

from pathlib import Path

import pytest
from geoalchemy2.shape import to_shape

from sqlalchemy import func, select, text

from cli import main
from core import config
from blockdata import registry
from blockdata.db import transaction
from blockdata.geometry import area_m2
from blockdata.models import Address, AddressKind, AddressReview, AuditLog, Building, Compound, Dwelling, ReviewStatus
from tests import places as P

HEAD = "南京市玄武区梅园新村街道"


@pytest.fixture(scope="module", autouse=True)
def rules_parser():  # noqa: ANN201
    """The hand-written rules parse the messy addresses (deterministic; the trained tagger is tested elsewhere)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDPULSE_ADDRESS_PARSER", "rules")
        config.settings.cache_clear()
        yield
    config.settings.cache_clear()


@pytest.fixture(scope="module")
def street(places: P.Places) -> P.Places:
    """The test street plus, in 测试小区, a building named 3号楼 (8 floors) and an unnamed one, both empty."""
    with transaction() as s:
        compound = s.scalar(select(Compound).where(Compound.code == "XW-C001"))
        registry.add_building(s, code="XW-B003", name="3号楼", grid_id=places.grid_a1, compound_id=compound.id,
                              floors=8, units=2, geom=P.cell(0.0045, 0.003, 0.0004))
        registry.add_building(s, code="XW-B004", name="", grid_id=places.grid_a1, compound_id=compound.id,
                              floors=5, units=1, geom=P.cell(0.0045, 0.0055, 0.0004))
        registry.add_building(s, code="XW-B005", name="5幢", grid_id=places.grid_b1, floors=20,
                              geom=P.cell(0.005, 0.015, 0.0004))
        registry.add_building(s, code="XW-B006", name="6幢", grid_id=places.grid_b1, floors=6,
                              geom=P.cell(0.006, 0.015, 0.0004))
    return places


def dwellings_of(code: str) -> list[Dwelling]:
    with transaction() as s:
        rows = list(s.scalars(select(Dwelling).join(Building).where(Building.code == code).order_by(Dwelling.code)))
        for r in rows:
            s.expunge(r)
        return rows


def address(code: str) -> Address | None:
    with transaction() as s:
        a = s.scalar(select(Address).where(Address.code == code))
        if a is not None:
            s.expunge(a)
        return a


def import_addresses(tmp_path: Path, rows: list[tuple[str, str, float | None, float | None]], capsys) -> str:  # noqa: ANN001
    path = tmp_path / "messy.csv"
    path.write_text("code,kind,full_text,lon,lat\n" + "".join(
        f"{c},non_standard,{t},{'' if x is None else x},{'' if y is None else y}\n" for c, t, x, y in rows), encoding="utf-8")
    assert main(["import", "addresses", str(path)]) == 0
    return capsys.readouterr().out


def inside(building: str) -> tuple[float, float]:
    with transaction() as s:
        p = to_shape(s.scalar(select(Building.geom).where(Building.code == building))).representative_point()
        return p.x, p.y


def test_a_messy_address_before_any_standard_one_waits_for_review(street: P.Places, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = import_addresses(tmp_path, [("M-EARLY", "测试小区3幢1单元201室", None, None)], capsys)
    assert "review" in out.lower()
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(AddressReview).where(AddressReview.status == ReviewStatus.pending)) == 1


def test_generate_from_the_layout_with_given_areas(street: P.Places, capsys) -> None:  # noqa: ANN001
    before = dwellings_of("XW-B003")
    assert before == []
    rc = main(["dwellings", "generate", "--building", "XW-B003", "--per-floor", "2", "--area-m2", "89", "72", "--dry-run"])
    assert rc == 0 and "would write 32 dwellings" in capsys.readouterr().out and dwellings_of("XW-B003") == []
    assert main(["dwellings", "generate", "--building", "XW-B003", "--per-floor", "2", "--area-m2", "89", "72"]) == 0
    out = capsys.readouterr().out
    assert "wrote 32 dwellings in 1 buildings" in out and "1 addresses wait for review" in out
    rows = dwellings_of("XW-B003")
    assert len(rows) == 2 * 8 * 2  # units × floors × flats per floor
    d = next(r for r in rows if r.code == "XW-B003-2-0501")
    assert (d.unit, d.floor, d.room, float(d.area_m2), d.rooms) == (2, 5, "501", 89.0, 3)
    assert float(next(r for r in rows if r.code == "XW-B003-2-0502").area_m2) == 72.0
    # every compound, building, unit and dwelling has its standard address, read from the hierarchy
    assert address("SA-D-XW-B003-2-0501").full_text == HEAD + "测试小区3幢2单元501室"
    assert d.address_id == address("SA-D-XW-B003-2-0501").id
    assert address("SA-U-XW-B003-2").full_text == HEAD + "测试小区3幢2单元"
    assert address("SA-B-XW-B003").full_text == HEAD + "测试小区3幢"
    assert address("SA-C-XW-C001").full_text == HEAD + "测试小区"
    assert all(address(c).kind is AddressKind.standard for c in ("SA-D-XW-B003-2-0501", "SA-B-XW-B003", "SA-C-XW-C001"))
    # again: nothing new, nothing doubled
    assert main(["dwellings", "generate", "--building", "XW-B003", "--per-floor", "2"]) == 0
    assert "already had dwellings" in capsys.readouterr().out and len(dwellings_of("XW-B003")) == 32


def test_areas_estimated_from_the_footprint_and_numbers_by_position(street: P.Places, capsys) -> None:  # noqa: ANN001
    assert main(["dwellings", "generate", "--building", "XW-B004", "--per-floor", "3"]) == 0
    assert "estimated from the footprint" in capsys.readouterr().out
    rows = dwellings_of("XW-B004")
    assert len(rows) == 5 * 3
    footprint = area_m2(P.cell(0.0045, 0.0055, 0.0004))  # ≈ 38 m × 44 m
    assert float(rows[0].area_m2) == pytest.approx(footprint * 0.75 / 3, abs=0.1)
    # the unnamed building gets the next free number in its compound (1幢 and 3号楼 are taken)
    assert address("SA-B-XW-B004").full_text == HEAD + "测试小区4幢"


@pytest.mark.parametrize(("argv", "message"), [
    (["--building", "XW-B005", "XW-B006", "--floors", "9"], "more than its 6 floors"),  # B005 first: not kept
    (["--building", "XW-NOPE"], "no building XW-NOPE"),
    ([], "say which buildings"),
    (["--building", "XW-B101", "--per-floor", "2", "--area-m2", "80", "70", "60"], "one per flat on a floor"),
    (["--building", "XW-B101", "--area-m2", "5"], "15–2000 m²"),
])
def test_bad_layouts_are_refused_and_write_nothing(street: P.Places, argv: list[str], message: str, capsys) -> None:  # noqa: ANN001
    with transaction() as s:
        before = s.scalar(select(func.count()).select_from(Dwelling)), s.scalar(select(func.count()).select_from(Address))
    assert main(["dwellings", "generate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    with transaction() as s:
        assert (s.scalar(select(func.count()).select_from(Dwelling)), s.scalar(select(func.count()).select_from(Address))) == before


def test_requeue_links_the_early_address_now_that_standard_ones_exist(street: P.Places, capsys) -> None:  # noqa: ANN001
    assert main(["review", "requeue"]) == 0
    assert "1 now linked (closed by system:requeue)" in capsys.readouterr().out
    early = address("M-EARLY")
    assert early.standard_id == address("SA-D-XW-B003-1-0201").id
    with transaction() as s:
        review = s.scalar(select(AddressReview).where(AddressReview.address_id == early.id))
        assert review.status is ReviewStatus.accepted and review.decided_by == "system:requeue"
        entry = s.scalar(select(AuditLog).where(AuditLog.subject == "address:M-EARLY", AuditLog.action == "address_review"))
        assert entry.username == "system:requeue" and entry.detail["review_id"] == review.id


def test_addresses_with_a_point_are_linked_by_the_building_they_lie_in(street: P.Places, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    b3, b1 = inside("XW-B003"), inside("XW-B001")
    import_addresses(tmp_path, [
        ("M-LOC", "2单元501室", *b3),                       # the text alone names no building: the point does
        ("M-TXT", "2单元501室", None, None),                # the same text without a point: not enough
        ("M-CLASH", "测试小区3幢2单元501室", *b1),           # text says 3幢, the point lies in 1幢: a person decides
        ("M-NOROOM", "2单元9901室", *b3),                   # the point's building has no such room
        ("M-BOTH", "测试小区3幢2单元502室", *b3),            # text and point agree
    ], capsys)
    target = address("SA-D-XW-B003-2-0501").id
    assert address("M-LOC").standard_id == target
    assert address("M-TXT").standard_id is None
    assert address("M-CLASH").standard_id is None
    assert address("M-NOROOM").standard_id is None
    assert address("M-BOTH").standard_id == address("SA-D-XW-B003-2-0502").id
    with transaction() as s:
        pending = set(s.scalars(select(Address.code).join(AddressReview, AddressReview.address_id == Address.id)
                                .where(AddressReview.status == ReviewStatus.pending)))
    assert {"M-TXT", "M-CLASH", "M-NOROOM"} <= pending and "M-LOC" not in pending


def test_addresses_generate_updates_in_place(street: P.Places, capsys) -> None:  # noqa: ANN001
    with transaction() as s:
        s.execute(text("UPDATE compound SET name = '测试花园' WHERE code = 'XW-C001'"))
        n = s.scalar(select(func.count()).select_from(Address).where(Address.code.startswith("SA-")))
    assert main(["addresses", "generate", "--compound", "XW-C001"]) == 0
    # 1幢 (XW-B001, made without this command) gets its own now: the building, 2 units, 1 dwelling; the rest updated
    assert "4 new" in capsys.readouterr().out
    assert address("SA-D-XW-B003-2-0501").full_text == HEAD + "测试花园3幢2单元501室"
    assert address("SA-D-XW-B001-1-0301").full_text == HEAD + "测试花园1幢1单元301室"
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(Address).where(Address.code.startswith("SA-"))) == n + 4


def test_dwellings_from_a_csv_get_their_addresses_too(street: P.Places, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.csv"
    bad.write_text("code,building_code,unit,floor,room,area_m2\nXW-B006-1-0101,XW-NOPE,1,1,101,60\n", encoding="utf-8")
    assert main(["dwellings", "generate", "--csv", str(bad)]) == 2
    assert "unknown building code XW-NOPE" in capsys.readouterr().out and dwellings_of("XW-B006") == []
    good = tmp_path / "dwellings.csv"
    good.write_text("code,building_code,unit,floor,room,area_m2\nXW-B006-1-0101,XW-B006,1,1,101,60\n"
                    "XW-B006-1-0602,XW-B006,1,6,602,75.5\n", encoding="utf-8")
    assert main(["dwellings", "generate", "--csv", str(good)]) == 0
    capsys.readouterr()
    assert [d.code for d in dwellings_of("XW-B006")] == ["XW-B006-1-0101", "XW-B006-1-0602"]
    # a building in no compound: its own name is its door plate
    assert address("SA-D-XW-B006-1-0602").full_text == HEAD + "6幢1单元602室"
    assert main(["dwellings", "generate", "--csv", str(good), "--units", "2"]) == 2
    assert "leave out the layout" in capsys.readouterr().err
