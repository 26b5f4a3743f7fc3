"""A declarative scenario: a person, their household, dwelling, tenure, tags with legal basis, passes,
utility series, key-site counters and dated gate passages — and the verdict the rule must reach.

Every case gets places of its own (a home compound with one gate, another compound with one gate,
its building and dwellings, its key sites), so cases never see each other; they are landed on the
tiny seeded street, whose own people and passages stay around them as background. Times are local
(``GRIDPULSE_TIMEZONE``): ``T("11-18 23:30")`` is 23:30 local on 18 November 2026, ``ago(days=3)``
counts back from the case's ``as_of`` (default ``AS_OF``, 10:00 local on 20 November 2026).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from shapely.geometry import Point, box
from sqlalchemy.orm import Session

from blockdata import registry
from blockdata.db import raw_connection
from blockdata.identity import check_digit
from blockdata.models import (
    AccessGrant, CounterOutage, DwellingUse, GateKind, GrantKind, Household, HouseholdMember, KeySiteCategory,
    PersonTag, PersonTagKind, RegionLevel, Relation, RelationKind, ResidenceKind, SelfDeclaration, UtilityKind,
    UtilityReading, VisitorPass,
)
from core.config import local_tz
from core.events import GateEvent, uuid7, validate_fields
from ingest.writer import land

LOCAL = local_tz()
AS_OF = dt.datetime(2026, 11, 20, 10, 0, tzinfo=LOCAL).astimezone(dt.timezone.utc)
STREET, COMMUNITY = "320113001000", "320113001001"


def T(value: str) -> dt.datetime:
    """A local time: "MM-DD HH:MM" in 2026, or "YYYY-MM-DD HH:MM"."""
    full = value if value.count("-") == 2 else f"2026-{value}"
    return dt.datetime.strptime(full, "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL).astimezone(dt.timezone.utc)


def ago(days: float = 0, hours: float = 0, minutes: float = 0, *, at: dt.datetime = AS_OF) -> dt.datetime:
    return at - dt.timedelta(days=days, hours=hours, minutes=minutes)


def local_day(value: dt.datetime) -> dt.date:
    return value.astimezone(LOCAL).date()


# --- what a case declares ---------------------------------------------------------------------

@dataclass(frozen=True)
class Tag:
    kind: str                      # elderly_alone, disabled, community_correction, key_control, …
    basis: str | None = None       # the legal basis (supervision tags)
    until: dt.date | None = None   # its last day in force (local date)


@dataclass(frozen=True)
class Person:
    name: str
    home: str | None = None        # dwelling label, the registered home
    born: dt.date = dt.date(1985, 6, 1)
    kind: str = "registered"       # registered, resident, floating, overseas
    expiry: dt.date | None = None  # temporary residence expiry
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class Dwelling:
    label: str
    area: float = 80.0
    rooms: int = 2
    use: str = "residential"       # residential, rented, vacant, commercial


@dataclass(frozen=True)
class Grant:
    dwelling: str
    owner: str
    grantee: str
    kind: str = "tenant"           # tenant, family
    start: dt.datetime = field(default_factory=lambda: ago(days=60))
    end: dt.datetime | None = None
    revoked: dt.datetime | None = None


@dataclass(frozen=True)
class Rental:
    dwelling: str
    lessor: str
    lessee: str
    start: dt.date = dt.date(2026, 6, 1)
    end: dt.date | None = None
    sublessor: str | None = None


@dataclass(frozen=True)
class Family:
    dwelling: str
    head: str
    members: tuple[str, ...] = ()  # besides the head


@dataclass(frozen=True)
class Pass:
    label: str
    dwelling: str
    visitor: str
    start: dt.datetime
    hours: float = 12.0
    id_number: str | None = "visitor-default"  # None: issued without an ID number
    issued_by: str | None = None   # a person of the case; default: the first person


@dataclass(frozen=True)
class Utility:
    dwelling: str
    kind: str                      # water, electricity, gas
    values: tuple[float | None, ...]  # one a day, the last one on the local day of as_of; None: not read
    account: str | None = None


@dataclass(frozen=True)
class Site:
    label: str
    category: str = "hospital"
    gates: int = 1


@dataclass(frozen=True)
class Outage:
    site: str
    start: dt.datetime
    end: dt.datetime | None = None
    gate: int = 0


@dataclass(frozen=True)
class Declaration:
    person: str
    dwelling: str
    status: str = "pending"


@dataclass(frozen=True)
class Passage:
    """One gate passage. ``who``: a person's name, "stranger:<label>", "pass:<label>", or None (a head count)."""

    who: str | None
    direction: str
    at: dt.datetime
    method: str = "face"
    gate: str = "home"             # home, other, or a site label (its first counter: "<site>", or "<site>#1")
    result: str = "open"


@dataclass(frozen=True)
class Flow:
    """``n`` head counts at a key site's counter in the ``minutes`` before ``end`` (local time via T/ago)."""

    site: str
    end: dt.datetime
    n: int
    minutes: int = 60
    gate: int = 0


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    why: str                       # one line: why this verdict follows from the rule's meaning
    fires: bool
    subject: tuple[str, str]       # (person|dwelling|key_site|pass|stranger, label)
    dwellings: tuple[Dwelling, ...] = (Dwelling("home"),)
    people: tuple[Person, ...] = ()
    owners: tuple[tuple[str, str], ...] = ()   # (dwelling, person)
    rentals: tuple[Rental, ...] = ()
    grants: tuple[Grant, ...] = ()
    families: tuple[Family, ...] = ()
    lives_in: tuple[tuple[str, str], ...] = ()  # (person, dwelling): a lives-in relation in force
    passes: tuple[Pass, ...] = ()
    utilities: tuple[Utility, ...] = ()
    sites: tuple[Site, ...] = ()
    outages: tuple[Outage, ...] = ()
    declarations: tuple[Declaration, ...] = ()
    passages: tuple[Passage, ...] = ()
    flows: tuple[Flow, ...] = ()
    in_compound: bool = True       # False: the building stands outside any compound (no gate of its own)
    as_of: dt.datetime = AS_OF

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.name}"


# --- landing ----------------------------------------------------------------------------------

@dataclass
class Landed:
    """The ids a landed case got, by label, to read the verdict from the rule's findings."""

    people: dict[str, int] = field(default_factory=dict)
    dwellings: dict[str, int] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    passes: dict[str, uuid.UUID] = field(default_factory=dict)
    strangers: dict[str, uuid.UUID] = field(default_factory=dict)

    def subject(self, kind: str, label: str) -> tuple[str, object]:
        if kind == "person":
            return ("person", self.people[label])
        if kind == "dwelling":
            return ("dwelling", self.dwellings[label])
        if kind == "key_site":
            return ("key_site", self.sites[label])
        if kind == "pass":
            return ("pass", str(self.passes[label]))
        if kind == "stranger":
            return ("stranger", str(self.strangers[label]))
        raise ValueError(f"unknown subject kind {kind!r}: person, dwelling, key_site, pass or stranger")


_id_seq = iter(range(1, 1_000_000))


def _id_number(born: dt.date) -> str:
    n = next(_id_seq)
    first17 = f"32011{3 + n // 1000 % 7}{born:%Y%m%d}{n % 1000:03d}"
    return first17 + check_digit(first17)


def _visitor_hash(value: str) -> bytes:
    return hashlib.sha256(f"scenario-visitor:{value}".encode()).digest()


def base_places(session: Session) -> int:
    """The scenarios' own street, community and one grid over all their cells; returns the grid id."""
    registry.add_region(session, code="320113000000", name="栖霞区", level=RegionLevel.district, parent_code="320100000000")
    registry.add_region(session, code=STREET, name="场景街道", level=RegionLevel.street, parent_code="320113000000")
    registry.add_region(session, code=COMMUNITY, name="场景社区", level=RegionLevel.community, parent_code=STREET)
    grid = registry.add_grid(session, community_code=COMMUNITY, sequence="001", name="场景网格",
                             geom=box(118.90, 32.10, 119.10, 32.30))
    return grid.id


def _cell(index: int, k: int) -> tuple[float, float]:
    """Bottom-left corner of the case's k-th small cell (0.0005° apart), inside the scenario grid."""
    x = 118.901 + (index % 100) * 0.0019 + k * 0.0004
    y = 32.101 + (index // 100) * 0.001
    return x, y


def land_case(session: Session, case: Case, index: int, grid_id: int) -> tuple[Landed, list[GateEvent]]:
    """Write a case's places and records through the registry, and return its passages as stream events."""
    got = Landed()
    tag = f"SC{index:03d}"
    compounds, gates = {}, {}
    for k, which in enumerate(("home", "other")):
        x, y = _cell(index, k)
        c = registry.add_compound(session, code=f"{tag}-{which[:2].upper()}", name=f"{tag} {which}", community_code=COMMUNITY,
                                  geom=box(x, y, x + 0.0003, y + 0.0003))
        g = registry.add_gate(session, code=f"{tag}-{which[:2].upper()}-G1", name=f"{'南门' if which == 'home' else '别的小区门'}",
                              kind=GateKind.pedestrian, compound_id=c.id, geom=Point(x, y))
        compounds[which], gates[which] = c.id, (g.id, c.id, None)
    x, y = _cell(index, 0 if case.in_compound else 2)
    x, y = x + 0.0001, y + 0.0001  # inside the home compound (or a cell of its own outside any)
    building = registry.add_building(session, code=f"{tag}-B1", name=f"{tag} 1幢", grid_id=grid_id,
                                     compound_id=compounds["home"] if case.in_compound else None, floors=8, units=2,
                                     geom=box(x, y, x + 0.0001, y + 0.0001))
    for k, d in enumerate(case.dwellings):
        row = registry.add_dwelling(session, code=f"{tag}-B1-1-{k + 1:02d}01", building_id=building.id, unit=1,
                                    floor=k % 8 + 1, room=f"{k % 8 + 1}01", area_m2=d.area, rooms=d.rooms,
                                    use=DwellingUse(d.use))
        got.dwellings[d.label] = row.id
    for k, s in enumerate(case.sites):
        x, y = _cell(index, 3 + k)
        site = registry.add_key_site(session, code=f"{tag}-KS{k}", name=f"{tag} {s.label}", category=KeySiteCategory(s.category),
                                     grid_id=grid_id, geom=box(x, y, x + 0.0003, y + 0.0003))
        got.sites[s.label] = site.id
        for j in range(s.gates):
            g = registry.add_gate(session, code=f"{tag}-KS{k}-C{j}", name=f"{s.label}计数{j}", kind=GateKind.counter,
                                  key_site_id=site.id, geom=Point(x, y + 0.0001 * j))
            gates[s.label if j == 0 else f"{s.label}#{j}"] = (g.id, None, site.id)
    for p in case.people:
        row = registry.add_person(session, id_number=_id_number(p.born), name=p.name, residence_kind=ResidenceKind(p.kind),
                                  birth_date=p.born, temp_residence_expiry=p.expiry,
                                  home_dwelling_id=got.dwellings[p.home] if p.home else None, today=dt.date(2026, 12, 31))
        got.people[p.name] = row.id
        for t in p.tags:
            session.add(PersonTag(person_id=row.id, tag=PersonTagKind(t.kind), set_by="scenario", legal_basis=t.basis,
                                  legal_basis_expiry=t.until))
    session.flush()
    for dwelling, person in case.owners:
        registry.add_ownership(session, dwelling_id=got.dwellings[dwelling], person_id=got.people[person],
                               since=dt.date(2015, 1, 1))
    for r in case.rentals:
        registry.add_rental(session, dwelling_id=got.dwellings[r.dwelling], lessor_person_id=got.people[r.lessor],
                            lessee_person_id=got.people[r.lessee], start_date=r.start, end_date=r.end,
                            sublessor_person_id=got.people[r.sublessor] if r.sublessor else None, today=dt.date(2026, 12, 31))
    for g in case.grants:
        session.add(AccessGrant(dwelling_id=got.dwellings[g.dwelling], owner_person_id=got.people[g.owner],
                                grantee_person_id=got.people[g.grantee], kind=GrantKind(g.kind), valid_from=g.start,
                                valid_to=g.end, revoked_at=g.revoked))
    for k, f in enumerate(case.families):
        h = Household(code=f"{tag}-H{k}", dwelling_id=got.dwellings[f.dwelling], head_person_id=got.people[f.head])
        session.add(h)
        session.flush()
        for name in (f.head, *f.members):
            session.add(HouseholdMember(household_id=h.id, person_id=got.people[name],
                                        relation_to_head="本人" if name == f.head else "家属"))
    for person, dwelling in case.lives_in:
        session.add(Relation(person_id=got.people[person], kind=RelationKind.lives_in, dwelling_id=got.dwellings[dwelling],
                             source="scenario", confidence=1.0, valid_from=dt.date(2026, 1, 1)))
    for v in case.passes:
        issuer = got.people[v.issued_by] if v.issued_by else next(iter(got.people.values()))
        row = VisitorPass(dwelling_id=got.dwellings[v.dwelling], issued_by_person_id=issuer, visitor_name=v.visitor,
                          visitor_id_hash=_visitor_hash(f"{tag}:{v.id_number}") if v.id_number else None,
                          valid_from=v.start, valid_to=v.start + dt.timedelta(hours=v.hours), entries_allowed=20)
        session.add(row)
        session.flush()
        got.passes[v.label] = row.id
    for u in case.utilities:
        last = local_day(case.as_of)
        for k, value in enumerate(reversed(u.values)):
            if value is None:
                continue  # not read that day
            session.add(UtilityReading(dwelling_id=got.dwellings[u.dwelling], kind=UtilityKind(u.kind),
                                       day=last - dt.timedelta(days=k), value=value, account_name=u.account))
    for o in case.outages:
        gate_id = gates[o.site if o.gate == 0 else f"{o.site}#{o.gate}"][0]
        session.add(CounterOutage(gate_id=gate_id, starts_at=o.start, ends_at=o.end, reason="scenario: counter off"))
    for dcl in case.declarations:
        session.add(SelfDeclaration(person_id=got.people[dcl.person], dwelling_id=got.dwellings[dcl.dwelling],
                                    period_from=dt.date(2026, 11, 1), relation_to_owner="租客", status=dcl.status))
    session.flush()
    events = [_event(case, got, gates, tag, p) for p in case.passages]
    for f in case.flows:
        gate = gates[f.site if f.gate == 0 else f"{f.site}#{f.gate}"]
        for i in range(f.n):
            ts = f.end - dt.timedelta(seconds=(i + 0.5) * f.minutes * 60 / f.n)
            events.append(GateEvent(event_id=uuid7(int(ts.timestamp() * 1000)), ts=ts, gate_id=gate[0], compound_id=None,
                                    key_site_id=gate[2], direction="in" if i % 2 == 0 else "out", method="count",
                                    result="open"))
    return got, events


def _event(case: Case, got: Landed, gates: dict, tag: str, p: Passage) -> GateEvent:
    gate_id, compound_id, site_id = gates[p.gate]
    person = pass_id = stranger = None
    if p.who is None:
        pass
    elif p.who.startswith("stranger:"):
        label = p.who.split(":", 1)[1]
        stranger = got.strangers.setdefault(label, uuid.uuid5(uuid.NAMESPACE_URL, f"scenario:{tag}:{label}"))
    elif p.who.startswith("pass:"):
        pass_id = got.passes[p.who.split(":", 1)[1]]
    else:
        person = got.people[p.who]
    method = "visitor_qr" if pass_id and p.method == "face" else p.method
    return GateEvent(
        event_id=uuid7(int(p.at.timestamp() * 1000)), ts=p.at, gate_id=gate_id, compound_id=compound_id,
        key_site_id=site_id, direction=p.direction, method=method, result=p.result, person_id=person, pass_id=pass_id,
        stranger_id=stranger, score=0.2 if stranger else None, reason="unknown_face" if p.result == "deny" else None,
    )


def ingest(events: Iterable[GateEvent]) -> int:
    """Land passages the way the ingest worker does: the stream contract's validation, then its writer."""
    fields = [validate_fields(e.to_fields()) for e in events]
    if not fields:
        return 0
    days = [dt.datetime.fromisoformat(f["ts"]).date() for f in fields]
    with raw_connection() as conn:
        conn.execute("SELECT gp_ensure_event_partitions(%s, %s)", (min(days) - dt.timedelta(days=1), max(days) + dt.timedelta(days=1)))
        conn.commit()
        stored = 0
        for k in range(0, len(fields), 5000):
            stored += land(conn, fields[k:k + 5000]).stored
    return stored


def land_all(session: Session, cases: list[Case]) -> tuple[dict[str, Landed], list[GateEvent]]:
    grid_id = base_places(session)
    landed, events = {}, []
    for index, case in enumerate(cases):
        got, evs = land_case(session, case, index, grid_id)
        landed[case.key] = got
        events += evs
    return landed, events


def verdicts(findings_by_as_of: dict[dt.datetime, dict[str, list]], cases: list[Case], landed: dict[str, Landed]) -> dict[str, bool]:
    """Did the rule fire for each case's subject, in the sweep as of that case's time?"""
    out = {}
    for case in cases:
        want = landed[case.key].subject(*case.subject)
        fired = set()
        for f in findings_by_as_of[case.as_of][case.rule]:
            if want[0] == "pass":
                fired.add(("pass", (f.dedup_subject or "").removeprefix("pass:")))
            elif want[0] == "stranger":
                fired.add(("stranger", f.dedup_subject))
            else:
                fired.add((f.subject_kind, f.subject_id))
        out[case.key] = want in fired
    return out


# --- helpers for writing lives ----------------------------------------------------------------

def daily(who: str, first: int, last: int = 1, *, out: str = "08:00", back: str = "18:30", method: str = "face",
          gate: str = "home", at: dt.datetime = AS_OF, skip: Iterable[int] = ()) -> tuple[Passage, ...]:
    """Out in the morning and back in the evening (local) on each day from ``first`` to ``last`` days before ``at``."""
    skip = set(skip)
    out_h, out_m = map(int, out.split(":"))
    back_h, back_m = map(int, back.split(":"))
    day0 = local_day(at)
    passages = []
    for k in range(first, last - 1, -1):
        if k in skip:
            continue
        day = day0 - dt.timedelta(days=k)
        t_out = dt.datetime(day.year, day.month, day.day, out_h, out_m, tzinfo=LOCAL).astimezone(dt.timezone.utc)
        t_back = dt.datetime(day.year, day.month, day.day, back_h, back_m, tzinfo=LOCAL).astimezone(dt.timezone.utc)
        if back_h < out_h:
            t_back += dt.timedelta(days=1)
        for direction, ts in (("out", t_out), ("in", t_back)):
            if ts <= at:
                passages.append(Passage(who, direction, ts, method=method, gate=gate))
    return tuple(passages)


def visits(who: str, first: int, last: int = 1, *, come: str = "10:00", leave: str = "12:00", method: str = "face",
           gate: str = "home", at: dt.datetime = AS_OF, every: int = 1) -> tuple[Passage, ...]:
    """In at ``come`` and out at ``leave`` (local; a ``leave`` earlier than ``come`` is the next morning)."""
    return tuple(
        Passage(p.who, "in" if p.direction == "out" else "out", p.at, method=p.method, gate=p.gate)
        for k in range(first, last - 1, -every)
        for p in daily(who, k, k, out=come, back=leave, method=method, gate=gate, at=at)
    )


def series(usual: float, days: int = 31, recent: tuple[float, ...] = (), wobble: float = 0.08) -> tuple[float, ...]:
    """A daily meter series: ``usual`` with a small weekly wobble, then the ``recent`` days (ending today)."""
    base = tuple(round(usual * (1 + wobble * ((k * 3) % 5 - 2) / 2), 2) for k in range(days - len(recent)))
    return base + tuple(recent)
