"""Importers of tabular records (CSV, xlsx): addresses, dwellings, people, ownership and rentals.

People are keyed by their ID number, which is never stored: it is checked (GB 11643 check digit,
a real birth date), turned into the keyed hash used for matching and the masked form used for
display, and dropped. Report lines name a person by the masked form only, so the validation
report itself is safe to pass around.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from shapely.geometry import Point
from sqlalchemy import select

from core.config import load_secrets
from core.errors import InvalidInput
from blockdata import registry
from intake.addresses.matcher import AddressIndex
from intake.addresses.parser import parse
from intake.addresses.review import queue_review
from intake.coords import convert_xy
from blockdata.geometry import validated
from blockdata.identity import hash_id_number, mask_id_number, validate_id_number
from intake.importers.context import Context, as_date, as_float, as_int
from intake.importers.readers import TableRow, first
from intake.importers.report import REVIEW, WARNING
from blockdata.models import (
    Address, AddressKind, Building, Dwelling, DwellingUse, Person, ResidenceKind, Sex,
)

_ADDRESS_KIND = {"standard": AddressKind.standard, "标准": AddressKind.standard, "标准地址": AddressKind.standard,
                 "non_standard": AddressKind.non_standard, "非标准": AddressKind.non_standard,
                 "非标准地址": AddressKind.non_standard, "virtual": AddressKind.virtual, "虚拟": AddressKind.virtual,
                 "虚拟地址": AddressKind.virtual, "point": AddressKind.point, "点位": AddressKind.point,
                 "点位地址": AddressKind.point}


def _point(ctx: Context, values: dict[str, Any], row: int, record: str) -> Point | None | bool:
    """The row's point in WGS84, None when it has none, False when it is unusable (reported)."""
    lon, lat = as_float(first(values, "lon", "lng", "longitude", "经度", "x")), as_float(first(values, "lat", "latitude", "纬度", "y"))
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        ctx.report.reject(row, record, "lon/lat", "only one of lon and lat is given")
        return False
    x, y = convert_xy(np.array([[lon, lat]]), ctx.crs)[0]
    try:
        return validated(Point(float(x), float(y)), kinds=("Point",), record=record)
    except InvalidInput as exc:
        ctx.report.reject(row, record, "lon/lat", exc.reason)
        return False


def import_addresses(ctx: Context, rows: list[TableRow]) -> int:
    seen: dict[str, int] = {}
    written: list[tuple[int, str, Address]] = []
    for i, r in enumerate(rows, start=1):
        ctx.tick(i, len(rows))
        v = r.values
        text = first(v, "full_text", "address", "地址", "详细地址")
        if not text:
            ctx.report.reject(r.row, f"row {r.row}", "address", "no address text (column full_text or address)")
            continue
        text = str(text)
        code = str(first(v, "code", "地址编码") or "A-" + hashlib.sha1(text.encode()).hexdigest()[:16])
        record = f"address {code}"
        kind_text = str(first(v, "kind", "类型") or "standard").strip().lower()
        kind = _ADDRESS_KIND.get(kind_text)
        if kind is None:
            ctx.report.reject(r.row, record, "kind", f"unknown address kind {kind_text!r}: standard, non_standard, virtual or point")
            continue
        if code in seen:
            ctx.report.reject(r.row, record, "code", f"duplicate: the same code is on row {seen[code]} of this file")
            continue
        seen[code] = r.row
        point = _point(ctx, v, r.row, record)
        if point is False:
            continue
        if kind is AddressKind.point and point is None:
            ctx.report.reject(r.row, record, "lon/lat", "a point address needs lon and lat")
            continue
        p = parse(text)
        if kind is AddressKind.standard and not (p.road or p.compound):
            ctx.report.add(r.row, record, "address", WARNING, "a standard address with neither road nor compound parsed")
        region = first(v, "region_code", "社区编码")
        with ctx.row(r.row, record):
            address = registry.add_address(ctx.session, code=code, kind=kind, full_text=text, parts=p,
                                           region_code=str(region) if region else None, geom=point)
            written.append((r.row, record, address))
    _match_non_standard(ctx, written)
    return len(written)


def _match_non_standard(ctx: Context, written: list[tuple[int, str, Address]]) -> None:
    """Link each non-standard address to its best standard one, or queue it for review."""
    messy = [(row, record, a) for row, record, a in written if a.kind is AddressKind.non_standard]
    if not messy:
        return
    index = AddressIndex.from_session(ctx.session)
    linked = 0
    for row, record, a in messy:
        m = index.best(parse(a.full_text))
        if m.standard_id is not None and m.score >= ctx.options.match_threshold:
            a.standard_id = m.standard_id
            linked += 1
        else:
            best = f"best candidate {m.standard_code} scores {m.score:.2f}" if m.standard_code else "no candidate"
            ctx.report.add(row, record, "standard_id", REVIEW,
                           f"{best} (< {ctx.options.match_threshold:.2f}): left unlinked in the review queue")
            ctx.session.flush()
            with ctx.row(row, record):
                queue_review(ctx.session, address_id=a.id, raw_text=a.full_text, candidate_id=m.standard_id,
                             score=m.score, import_run=ctx.run_id, source=ctx.report.source)
    ctx.session.flush()
    ctx.report.summary["non_standard"] = len(messy)
    ctx.report.summary["matched"] = linked
    ctx.report.summary["match_rate"] = round(linked / len(messy), 4)


_USE = {"residential": DwellingUse.residential, "住宅": DwellingUse.residential, "自住": DwellingUse.residential,
        "commercial": DwellingUse.commercial, "商业": DwellingUse.commercial, "rented": DwellingUse.rented,
        "出租": DwellingUse.rented, "vacant": DwellingUse.vacant, "空置": DwellingUse.vacant}


def _building_ids(ctx: Context, rows: list[TableRow]) -> dict[str, int]:
    codes = {str(c) for r in rows if (c := first(r.values, "building_code", "楼栋编码"))}
    return dict(ctx.session.execute(select(Building.code, Building.id).where(Building.code.in_(codes))).tuples().all())


def import_dwellings(ctx: Context, rows: list[TableRow]) -> int:
    buildings = _building_ids(ctx, rows)
    seen: dict[str, int] = {}
    written = 0
    for i, r in enumerate(rows, start=1):
        ctx.tick(i, len(rows))
        v = r.values
        code = str(first(v, "code", "房屋编码") or "")
        record = f"dwelling {code or f'row {r.row}'}"
        if not code:
            ctx.report.reject(r.row, record, "code", "no dwelling code")
            continue
        if code in seen:
            ctx.report.reject(r.row, record, "code", f"duplicate: the same code is on row {seen[code]} of this file")
            continue
        seen[code] = r.row
        building_code = first(v, "building_code", "楼栋编码")
        if str(building_code) not in buildings:
            ctx.report.reject(r.row, record, "building_code", f"unknown building code {building_code}")
            continue
        unit, floor = as_int(first(v, "unit", "单元")), as_int(first(v, "floor", "楼层"))
        area = as_float(first(v, "area_m2", "area", "面积"))
        room = first(v, "room", "室", "房号")
        missing = [n for n, x in (("unit", unit), ("floor", floor), ("area_m2", area), ("room", room)) if x is None]
        if missing:
            ctx.report.reject(r.row, record, missing[0], f"missing or unreadable: {', '.join(missing)}")
            continue
        use_text = str(first(v, "use", "用途") or "residential").strip().lower()
        if use_text not in _USE:
            ctx.report.reject(r.row, record, "use", f"unknown use {use_text!r}: residential, commercial, rented or vacant")
            continue
        with ctx.row(r.row, record):
            registry.add_dwelling(ctx.session, code=code, building_id=buildings[str(building_code)], unit=unit, floor=floor,
                                  room=str(room), area_m2=area, rooms=as_int(first(v, "rooms", "间数")) or 1,
                                  use=_USE[use_text])
            written += 1
    return written


# --- people -----------------------------------------------------------------------------------

# A cell may hold the stored value, the member's English name or its Chinese label (core/vocab.py).
_RESIDENCE = {w: k for k in ResidenceKind for w in (k.value, k.label)}
_SEX = {w.lower(): k for k in Sex for w in (k.value, k.name, k.label)}


class _People:
    """ID numbers → keyed hashes, and hashes → person ids already in the database."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.key = load_secrets().id_hash_key

    def checked(self, raw: Any, row: int, field: str, record: str) -> tuple[bytes, str] | None:
        """(hash, masked) of a valid ID number; None and a report line if it is malformed."""
        if raw is None:
            self.ctx.report.reject(row, record, field, "no ID number")
            return None
        text = str(raw).strip().upper()
        try:
            number = validate_id_number(text)
        except InvalidInput as exc:
            self.ctx.report.reject(row, mask_id_number(text), field, f"malformed ID number: {exc.reason}")
            return None
        return hash_id_number(self.key, number), mask_id_number(number)

    def ids(self, hashes: list[bytes]) -> dict[bytes, int]:
        rows = self.ctx.session.execute(select(Person.id_hash, Person.id).where(Person.id_hash.in_(hashes))).tuples()
        return {bytes(h): pid for h, pid in rows}



def import_people(ctx: Context, rows: list[TableRow]) -> int:
    people = _People(ctx)
    staged: list[tuple[TableRow, bytes, str, str]] = []
    seen: dict[bytes, int] = {}
    for r in rows:
        raw = first(r.values, "id_number", "身份证号", "证件号码", "身份证")
        got = people.checked(raw, r.row, "id_number", f"row {r.row}")
        if got is None:
            continue
        h, masked = got
        if h in seen:
            ctx.report.reject(r.row, masked, "id_number", f"duplicate: the same person is on row {seen[h]} of this file")
            continue
        seen[h] = r.row
        staged.append((r, h, masked, str(raw).strip().upper()))
    existing = people.ids([h for _, h, _, _ in staged])
    dwellings = dict(ctx.session.execute(select(Dwelling.code, Dwelling.id)).tuples().all()) if staged else {}
    written = 0
    for i, (r, h, masked, number) in enumerate(staged, start=1):
        ctx.tick(i, len(staged))
        v = r.values
        if h in existing:
            ctx.report.reject(r.row, masked, "id_number", "duplicate: this person is already in the database")
            continue
        born = as_date(number[6:14])
        if born is None:
            ctx.report.reject(r.row, masked, "id_number", f"the ID number's birth date {number[6:14]} is not a date")
            continue
        given = first(v, "birth_date", "出生日期")
        if given is not None and as_date(given) is None:
            ctx.report.reject(r.row, masked, "birth_date", f"unreadable date {given!r}")
            continue
        if given is not None and as_date(given) != born:
            ctx.report.reject(r.row, masked, "birth_date", f"{as_date(given)} differs from the ID number's {born}")
            continue
        if born > ctx.options.today:
            ctx.report.reject(r.row, masked, "birth_date", f"birth date {born} is in the future")
            continue
        sex = Sex.male if int(number[16]) % 2 else Sex.female
        sex_text = str(first(v, "sex", "性别") or "").strip().lower()
        if sex_text and _SEX.get(sex_text) is not sex:
            ctx.report.reject(r.row, masked, "sex", f"sex {sex_text!r} contradicts the ID number")
            continue
        kind_text = str(first(v, "residence_kind", "人口类型", "居住类型") or "resident").strip().lower()
        kind = _RESIDENCE.get(kind_text)
        if kind is None:
            ctx.report.reject(r.row, masked, "residence_kind", f"unknown residence kind {kind_text!r}")
            continue
        expiry = as_date(first(v, "temp_residence_expiry", "居住证有效期"))
        if kind in (ResidenceKind.floating, ResidenceKind.overseas) and expiry is None:
            ctx.report.reject(r.row, masked, "temp_residence_expiry", f"a {kind.value} resident needs a temporary-residence expiry")
            continue
        dwelling_code = first(v, "dwelling_code", "房屋编码")
        if dwelling_code and str(dwelling_code) not in dwellings:
            ctx.report.reject(r.row, masked, "dwelling_code", f"unknown dwelling code {dwelling_code}")
            continue
        name = first(v, "name", "姓名")
        if not name:
            ctx.report.reject(r.row, masked, "name", "no name")
            continue
        with ctx.row(r.row, masked):
            registry.add_person(
                ctx.session, id_number=number, name=str(name), sex=sex, birth_date=born, residence_kind=kind,
                temp_residence_expiry=expiry, phone=str(first(v, "phone", "电话", "手机") or ""), key=people.key,
                home_dwelling_id=dwellings.get(str(dwelling_code)) if dwelling_code else None, today=ctx.options.today,
            )
            written += 1
    return written


def _dwelling_id(ctx: Context, code: Any, row: int, record: str) -> int | None:
    if not code:
        ctx.report.reject(row, record, "dwelling_code", "no dwelling code")
        return None
    found = ctx.session.scalar(select(Dwelling.id).where(Dwelling.code == str(code)))
    if found is None:
        ctx.report.reject(row, record, "dwelling_code", f"unknown dwelling code {code}")
    return found


def _person_id(ctx: Context, people: _People, raw: Any, row: int, field: str, record: str) -> int | None:
    got = people.checked(raw, row, field, record)
    if got is None:
        return None
    found = people.ids([got[0]]).get(got[0])
    if found is None:
        ctx.report.reject(row, got[1], field, "unknown person: no one with this ID number in the population base")
    return found


def _not_future(ctx: Context, value: Any, row: int, record: str, field: str, *, required: bool) -> Any:
    """A readable date not after today; False (reported) otherwise; None when absent and optional."""
    if value is None:
        if required:
            ctx.report.reject(row, record, field, "missing date")
            return False
        return None
    d = as_date(value)
    if d is None:
        ctx.report.reject(row, record, field, f"unreadable date {value!r}")
        return False
    if d > ctx.options.today:
        ctx.report.reject(row, record, field, f"date {d} is in the future")
        return False
    return d


def import_ownership(ctx: Context, rows: list[TableRow]) -> int:
    people = _People(ctx)
    written = 0
    for i, r in enumerate(rows, start=1):
        ctx.tick(i, len(rows))
        v = r.values
        record = f"ownership row {r.row}"
        dwelling = _dwelling_id(ctx, first(v, "dwelling_code", "房屋编码"), r.row, record)
        person = _person_id(ctx, people, first(v, "id_number", "owner_id_number", "身份证号"), r.row, "id_number", record)
        since = _not_future(ctx, first(v, "since", "登记日期", "产权日期"), r.row, record, "since", required=True)
        share = as_float(first(v, "share", "份额")) or 1.0
        if dwelling is None or person is None or since is False:
            continue
        if not 0 < share <= 1:
            ctx.report.reject(r.row, record, "share", f"share must be in (0, 1], got {share}")
            continue
        with ctx.row(r.row, record):
            registry.add_ownership(ctx.session, dwelling_id=dwelling, person_id=person, share=share, since=since,
                                   today=ctx.options.today)
            written += 1
    return written


_YES = {"1", "true", "yes", "y", "是", "t"}


def import_rentals(ctx: Context, rows: list[TableRow]) -> int:
    people = _People(ctx)
    written = 0
    for i, r in enumerate(rows, start=1):
        ctx.tick(i, len(rows))
        v = r.values
        record = f"rental row {r.row}"
        dwelling = _dwelling_id(ctx, first(v, "dwelling_code", "房屋编码"), r.row, record)
        lessor = _person_id(ctx, people, first(v, "lessor_id_number", "出租人身份证号"), r.row, "lessor_id_number", record)
        lessee = _person_id(ctx, people, first(v, "lessee_id_number", "承租人身份证号"), r.row, "lessee_id_number", record)
        sub_raw = first(v, "sublessor_id_number", "二房东身份证号")
        sublessor = _person_id(ctx, people, sub_raw, r.row, "sublessor_id_number", record) if sub_raw else None
        start = _not_future(ctx, first(v, "start_date", "起租日期"), r.row, record, "start_date", required=True)
        end = as_date(first(v, "end_date", "止租日期"))
        if None in (dwelling, lessor, lessee) or start is False or (sub_raw and sublessor is None):
            continue
        if end is not None and end < start:
            ctx.report.reject(r.row, record, "end_date", f"end {end} before start {start}")
            continue
        blacklisted = str(first(v, "blacklisted", "黑名单") or "").strip().lower() in _YES
        reason = first(v, "blacklist_reason", "黑名单原因")
        if blacklisted and not reason:
            ctx.report.reject(r.row, record, "blacklist_reason", "a blacklisted rental needs a reason")
            continue
        with ctx.row(r.row, record):
            registry.add_rental(ctx.session, dwelling_id=dwelling, lessor_person_id=lessor, lessee_person_id=lessee,
                                sublessor_person_id=sublessor, start_date=start, end_date=end,
                                monthly_rent=as_float(first(v, "monthly_rent", "月租金")), blacklisted=blacklisted,
                                blacklist_reason=str(reason) if reason else None, today=ctx.options.today)
            written += 1
    return written


