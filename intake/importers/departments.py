"""数据归集: the departments' lists, delivered again and again, brought in incrementally and idempotently.

* ``tags``: person tags from the departments that own them (民政 elderly living alone, 残联 disabled,
  司法 community correction, 公安 key control), each with its legal basis and the basis's expiry. A tag
  without a basis is refused; a tag lapses with its basis (the rules read the expiry).
* ``utility``: meter readings as the water, power and gas companies deliver them (account number,
  address, period, reading), matched to a dwelling by the account (once learned) or by the standard
  address; unmatched rows go to the address review queue, not to a guessed dwelling.
* ``fees``: property-fee payments (payer name, dwelling code or address, period, amount).
* ``organisations`` (unified social credit code, name, kind, address) and ``employees`` (who works for
  which organisation since when).

People are matched by the keyed hash of the ID number only; the number is never stored and the
report names people by the masked form. Every kind compares each row with what the base already
holds: the same row again is ``unchanged`` (the same file twice changes nothing), a changed row is
updated (and the import run keeps the old values, so ``gridpulse import undo`` restores them).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from sqlalchemy import select

from blockdata import registry
from blockdata.models import (
    Address, AddressKind, Dwelling, Organisation, PersonTag, PersonTagKind, PropertyFee, Relation, RelationKind,
    UtilityAccount, UtilityKind, UtilityReading,
)
from intake.addresses.matcher import AddressIndex
from intake.addresses.normalise import normalise
from intake.addresses.parser import parse
from intake.addresses.review import queue_review
from intake.importers.context import Context, as_date, as_float
from intake.importers.readers import TableRow, first
from intake.importers.report import REVIEW, WARNING

# --- person tags ------------------------------------------------------------------------------------

DEPARTMENTS: dict[str, str] = {"民政": "民政", "民政局": "民政", "civil_affairs": "民政", "残联": "残联",
                               "残疾人联合会": "残联", "disabled_persons_federation": "残联", "司法": "司法",
                               "司法局": "司法", "justice": "司法", "公安": "公安", "公安局": "公安", "派出所": "公安",
                               "police": "公安"}
OWNER: dict[PersonTagKind, str] = {PersonTagKind.elderly_alone: "民政", PersonTagKind.disabled: "残联",
                                   PersonTagKind.community_correction: "司法", PersonTagKind.key_control: "公安"}
_TAGS: dict[str, PersonTagKind] = {
    "elderly_alone": PersonTagKind.elderly_alone, "独居老人": PersonTagKind.elderly_alone,
    "disabled": PersonTagKind.disabled, "残疾人": PersonTagKind.disabled, "残疾": PersonTagKind.disabled,
    "community_correction": PersonTagKind.community_correction, "社区矫正": PersonTagKind.community_correction,
    "key_control": PersonTagKind.key_control, "重点管控": PersonTagKind.key_control,
    "重点人员": PersonTagKind.key_control,
}


def _people(ctx: Context):  # noqa: ANN202 - tables._People (ID number → keyed hash → person id)
    from intake.importers.tables import _People

    return _People(ctx)


def _person(ctx: Context, people: Any, raw: Any, row: int) -> tuple[int | None, str | None]:
    """The person's id by the keyed hash, the masked number; (None, masked) and a line when unknown."""
    got = people.checked(raw, row, "id_number", f"row {row}")
    if got is None:
        return None, None
    pid = people.ids([got[0]]).get(got[0])
    if pid is None:
        ctx.report.add(row, got[1], "id_number", WARNING,
                       "no one with this ID number in the population base: not written (import the person first; "
                       "the same file again will then take it)")
        ctx.count("people_unmatched")
    return pid, got[1]


def import_tags(ctx: Context, rows: list[TableRow]) -> int:
    people = _people(ctx)
    seen: dict[tuple[int, PersonTagKind], int] = {}
    written = 0
    for i, r in enumerate(rows, start=1):
        ctx.tick(i, len(rows))
        v = r.values
        tag_text = str(first(v, "tag", "标签", "类别") or "").strip().lower()
        tag = _TAGS.get(tag_text)
        dept_text = str(first(v, "department", "source_department", "部门", "来源部门") or "").strip().lower()
        dept = DEPARTMENTS.get(dept_text)
        basis = first(v, "legal_basis", "依据", "法律依据")
        expiry_raw = first(v, "legal_basis_expiry", "expiry", "有效期至", "截止日期")
        expiry = as_date(expiry_raw)
        record = f"row {r.row}"
        problems = []
        if tag is None:
            problems.append(("tag", f"unknown tag {tag_text!r}: one of 独居老人, 残疾人, 社区矫正, 重点管控 "
                                    "(elderly_alone, disabled, community_correction, key_control)"))
        if dept is None:
            problems.append(("department", f"unknown department {dept_text!r}: 民政, 残联, 司法 or 公安"))
        elif tag is not None and OWNER[tag] != dept:
            problems.append(("department", f"{dept} does not own the tag {tag.value}: {OWNER[tag]} does"))
        if not basis:
            problems.append(("legal_basis", "a tag without a legal basis is refused: give the basis (依据) and its expiry"))
        if expiry is None:
            problems.append(("legal_basis_expiry", f"the basis's expiry (有效期至) is missing or unreadable "
                                                   f"({expiry_raw!r}): a tag lapses with its basis"))
        pid, masked = _person(ctx, people, first(v, "id_number", "身份证号", "证件号码"), r.row)
        for field_, reason in problems:
            ctx.report.reject(r.row, masked or record, field_, reason)
        if problems or pid is None or tag is None:
            continue
        if (pid, tag) in seen:
            ctx.report.reject(r.row, masked, "id_number", f"duplicate: the same person and tag are on row {seen[(pid, tag)]}")
            continue
        seen[(pid, tag)] = r.row
        if expiry < ctx.options.today:
            ctx.report.add(r.row, masked, "legal_basis_expiry", WARNING, f"the basis lapsed on {expiry}: stored, not in force")
        existing = ctx.session.get(PersonTag, (pid, tag))
        values = dict(legal_basis=str(basis), legal_basis_expiry=expiry, source_department=dept)
        if existing is None:
            ctx.session.add(PersonTag(person_id=pid, tag=tag, set_by=f"import:{dept}", **values))
            written += 1
        elif any(getattr(existing, k) != val for k, val in values.items()):
            for k, val in values.items():
                setattr(existing, k, val)
            ctx.count("updated")
            written += 1
        else:
            ctx.count("unchanged")
    ctx.session.flush()
    return written


# --- dwellings by account or standard address --------------------------------------------------------


class _Dwellings:
    """Find a dwelling by its code, or by a written address matched to a dwelling's standard address."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.by_code = dict(ctx.session.execute(select(Dwelling.code, Dwelling.id)).tuples().all())
        self.by_address = dict(ctx.session.execute(
            select(Dwelling.address_id, Dwelling.id).where(Dwelling.address_id.is_not(None))).tuples().all())
        self._index: AddressIndex | None = None
        self._texts: dict[str, int] | None = None

    def index(self) -> AddressIndex:
        if self._index is None:
            self._index = AddressIndex.from_session(self.ctx.session)
        return self._index

    def exact(self, text: str) -> int | None:
        """The dwelling whose standard address reads exactly so (the province and city may be left out)."""
        if self._texts is None:
            rows = self.ctx.session.execute(select(Address.id, Address.full_text).where(
                Address.kind == AddressKind.standard, Address.id.in_(list(self.by_address)))).all()
            self._texts = {_plain_text(t): self.by_address[i] for i, t in rows}
        return self._texts.get(_plain_text(text))

    def by_text(self, text: str, row: int, record: str) -> int | None:
        """The dwelling of the same standard address, else of the best match at or above the threshold; else the
        text goes to the review queue."""
        same = self.exact(text)
        if same is not None:
            return same
        m = self.index().best(parse(text))
        dwelling = self.by_address.get(m.standard_id) if m.standard_id is not None else None
        if dwelling is not None and m.score >= self.ctx.options.match_threshold:
            return dwelling
        best = f"best candidate {m.standard_code} scores {m.score:.2f}" if m.standard_code else "no candidate"
        if m.standard_code and dwelling is None:
            best += " but is not a dwelling's address"
        self.ctx.report.add(row, record, "address", REVIEW, f"{best}: not matched to a dwelling, waiting in the review queue")
        self.ctx.count("unmatched_to_review")
        self._queue(text, m)
        return None

    def _queue(self, text: str, m: Any) -> None:
        """The written address as a non-standard address with a pending review (once, however often delivered)."""
        code = "U-" + hashlib.sha1(text.encode()).hexdigest()[:16]
        address = self.ctx.session.scalar(select(Address).where(Address.code == code))
        if address is None:
            address = registry.add_address(self.ctx.session, code=code, kind=AddressKind.non_standard, full_text=text,
                                           parts=parse(text))
        from blockdata.models import AddressReview, ReviewStatus

        pending = self.ctx.session.scalar(select(AddressReview.id).where(
            AddressReview.address_id == address.id, AddressReview.status == ReviewStatus.pending))
        if pending is None:
            queue_review(self.ctx.session, address_id=address.id, raw_text=text, candidate_id=m.standard_id,
                         score=m.score, import_run=self.ctx.run_id, source=self.ctx.report.source)


_LEADING = re.compile(r"^([^省市区]{2,7}省|[^省市区]{2,10}自治区)?([^省市区]{2,7}市)?")  # 江苏省南京市, 广西壮族自治区南宁市


def _plain_text(text: str) -> str:
    """An address text compared as written, without spaces and without a leading province and city."""
    return _LEADING.sub("", re.sub(r"\s+", "", normalise(str(text))))


_UTILITY = {"water": UtilityKind.water, "水": UtilityKind.water, "自来水": UtilityKind.water,
            "electricity": UtilityKind.electricity, "power": UtilityKind.electricity, "电": UtilityKind.electricity,
            "电力": UtilityKind.electricity, "gas": UtilityKind.gas, "气": UtilityKind.gas, "燃气": UtilityKind.gas}
_PERIOD = re.compile(r"^\s*(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*月?\s*$")


def period_of(value: Any) -> dt.date | None:
    """The first day of a billing month: 2026-11, 2026/11, 202611, 2026年11月 or any date in it."""
    if value is None:
        return None
    m = _PERIOD.match(str(value))
    if m and 1 <= int(m.group(2)) <= 12:
        return dt.date(int(m.group(1)), int(m.group(2)), 1)
    d = as_date(value)
    return d.replace(day=1) if d else None


def import_utility(ctx: Context, rows: list[TableRow]) -> int:
    dwellings = _Dwellings(ctx)
    default_kind = _UTILITY.get(str(ctx.options.utility or "").lower())
    written = 0
    seen: dict[tuple, int] = {}
    for i, r in enumerate(rows, start=1):
        ctx.tick(i, len(rows))
        v = r.values
        account = str(first(v, "account_number", "户号", "账号", "用户编号") or "").strip()
        record = f"account {account or f'row {r.row}'}"
        kind_text = str(first(v, "kind", "类型", "表类") or "").strip().lower()
        kind = _UTILITY.get(kind_text) if kind_text else default_kind
        period = period_of(first(v, "period", "账期", "月份"))
        reading = as_float(first(v, "reading", "读数", "用量"))
        address = first(v, "address", "地址", "用水地址", "用电地址", "用气地址")
        problems = []
        if kind is None:
            problems.append(("kind", f"which utility? {kind_text!r} is none: a column kind (水/电/气) or --utility "
                                     "water|electricity|gas"))
        if not account:
            problems.append(("account_number", "no account number (户号)"))
        if period is None:
            problems.append(("period", "no readable period (账期), e.g. 2026-11"))
        if reading is None or reading < 0:
            problems.append(("reading", "the reading (读数) is missing, unreadable or negative"))
        for field_, reason in problems:
            ctx.report.reject(r.row, record, field_, reason)
        if problems:
            continue
        key = (kind, account, period)
        if key in seen:
            ctx.report.reject(r.row, record, "account_number", f"duplicate: the same account and period are on row {seen[key]}")
            continue
        seen[key] = r.row
        known = ctx.session.get(UtilityAccount, (kind, account))
        dwelling = known.dwelling_id if known else None
        if dwelling is None:
            if not address:
                ctx.report.add(r.row, record, "address", WARNING, "an account not seen before and no address: not matched")
                ctx.count("unmatched")
                continue
            dwelling = dwellings.by_text(str(address), r.row, record)
            if dwelling is None:
                continue
            ctx.session.add(UtilityAccount(kind=kind, account_number=account, dwelling_id=dwelling))
        written += _put(ctx, UtilityReading, (dwelling, kind, period), value=reading)
    ctx.session.flush()
    return written


def _put(ctx: Context, model: Any, key: tuple, **values: Any) -> int:
    """Insert, update (counted) or leave unchanged (counted) one row by its primary key; 1 if written."""
    existing = ctx.session.get(model, key)
    if existing is None:
        cols = [c.name for c in model.__table__.primary_key.columns]
        ctx.session.add(model(**dict(zip(cols, key)), **values))
        ctx.session.flush()
        return 1
    def same(a: Any, b: Any) -> bool:
        try:
            return a == b or (a is not None and b is not None and abs(float(a) - float(b)) < 1e-6)
        except (TypeError, ValueError):
            return False
    diff = {k: val for k, val in values.items() if not same(getattr(existing, k), val)}
    if not diff:
        ctx.count("unchanged")
        return 0
    for k, val in diff.items():
        setattr(existing, k, val)
    ctx.count("updated")
    ctx.session.flush()
    return 1


def import_fees(ctx: Context, rows: list[TableRow]) -> int:
    dwellings = _Dwellings(ctx)
    written = 0
    for i, r in enumerate(rows, start=1):
        ctx.tick(i, len(rows))
        v = r.values
        record = f"fee row {r.row}"
        payer = first(v, "payer_name", "缴费人", "业主", "name")
        period = period_of(first(v, "period", "月份", "缴费期间"))
        amount = as_float(first(v, "amount", "金额"))
        code = first(v, "dwelling_code", "房屋编码")
        address = first(v, "address", "地址", "房号")
        problems = []
        if not payer:
            problems.append(("payer_name", "no payer name (缴费人)"))
        if period is None:
            problems.append(("period", "no readable period (月份), e.g. 2026-11"))
        if amount is not None and amount < 0:
            problems.append(("amount", f"a negative amount {amount}"))
        if not code and not address:
            problems.append(("dwelling_code", "neither dwelling_code (房屋编码) nor address (地址)"))
        elif code and str(code) not in dwellings.by_code:
            problems.append(("dwelling_code", f"unknown dwelling code {code}"))
        for field_, reason in problems:
            ctx.report.reject(r.row, record, field_, reason)
        if problems:
            continue
        dwelling = dwellings.by_code[str(code)] if code else dwellings.by_text(str(address), r.row, record)
        if dwelling is None:
            continue
        written += _put(ctx, PropertyFee, (dwelling, period), payer_name=str(payer)[:64], amount=amount,
                        paid_on=as_date(first(v, "paid_on", "缴费日期")))
    return written


# --- organisations and who works for them ---------------------------------------------------------------

_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def import_organisations(ctx: Context, rows: list[TableRow]) -> int:
    dwellings = _Dwellings(ctx)
    written = 0
    for i, r in enumerate(rows, start=1):
        ctx.tick(i, len(rows))
        v = r.values
        uscc = str(first(v, "uscc", "统一社会信用代码", "信用代码") or "").strip().upper()
        record = f"organisation {uscc or f'row {r.row}'}"
        name = first(v, "name", "名称", "单位名称")
        if not _USCC.match(uscc):
            ctx.report.reject(r.row, record, "uscc", f"{uscc!r} is not an 18-character unified social credit code")
            continue
        if not name:
            ctx.report.reject(r.row, record, "name", "no name (名称)")
            continue
        code = first(v, "dwelling_code", "房屋编码")
        if code and str(code) not in dwellings.by_code:
            ctx.report.reject(r.row, record, "dwelling_code", f"unknown dwelling code {code}")
            continue
        dwelling = dwellings.by_code.get(str(code)) if code else None
        existing = ctx.session.scalar(select(Organisation).where(Organisation.uscc == uscc))
        values = dict(name=str(name)[:128], kind=str(first(v, "kind", "类型") or "company")[:32])
        if dwelling is not None:
            values["dwelling_id"] = dwelling
        if existing is None:
            ctx.session.add(Organisation(uscc=uscc, **values))
            ctx.session.flush()
            written += 1
            continue
        diff = {k: val for k, val in values.items() if getattr(existing, k) != val}
        for k, val in diff.items():
            setattr(existing, k, val)
        ctx.count("updated" if diff else "unchanged")
        written += bool(diff)
    ctx.session.flush()
    return written


def import_employees(ctx: Context, rows: list[TableRow]) -> int:
    people = _people(ctx)
    orgs = dict(ctx.session.execute(select(Organisation.uscc, Organisation.id)).tuples().all())
    written = 0
    for i, r in enumerate(rows, start=1):
        ctx.tick(i, len(rows))
        v = r.values
        uscc = str(first(v, "uscc", "统一社会信用代码") or "").strip().upper()
        record = f"row {r.row}"
        since = as_date(first(v, "since", "入职日期", "valid_from"))
        until = as_date(first(v, "until", "离职日期", "valid_to"))
        pid, masked = _person(ctx, people, first(v, "id_number", "身份证号"), r.row)
        problems = []
        if uscc not in orgs:
            problems.append(("uscc", f"unknown organisation {uscc!r}: import it first (kind organisations)"))
        if since is None:
            problems.append(("since", "no readable start date (入职日期)"))
        elif since > ctx.options.today:
            problems.append(("since", f"start date {since} is in the future"))
        if since and until and until < since:
            problems.append(("until", f"end {until} before start {since}"))
        for field_, reason in problems:
            ctx.report.reject(r.row, masked or record, field_, reason)
        if problems or pid is None:
            continue
        existing = ctx.session.scalar(select(Relation).where(
            Relation.person_id == pid, Relation.kind == RelationKind.employed_by,
            Relation.organisation_id == orgs[uscc], Relation.valid_from == since))
        if existing is None:
            ctx.session.add(Relation(person_id=pid, kind=RelationKind.employed_by, organisation_id=orgs[uscc],
                                     source="import", confidence=1.0, valid_from=since, valid_to=until))
            written += 1
        elif existing.valid_to != until:
            existing.valid_to = until
            ctx.count("updated")
            written += 1
        else:
            ctx.count("unchanged")
    ctx.session.flush()
    return written
