"""Each rule on hand-built cases, including the cases it must not fire on."""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from analytics.params import params
from analytics.rules import RULES
from blockdata.db import transaction
from blockdata.models import (
    AccessGrant, GateKind, GrantKind, KeySite, KeySiteCategory, Ownership, PersonTag, PersonTagKind, ResidenceKind,
    SelfDeclaration, UtilityKind, UtilityReading, VisitorPass,
)
from blockdata import registry
from tests import analytics_cases as C
from tests import places as P

AS_OF = C.AS_OF
D = dt.timedelta


@pytest.fixture
def world(database_url: str) -> dict:
    """A fresh hierarchy per test, so each rule sees only its own cases."""
    with transaction() as s:
        places = P.build(s)
        gate_id, compound_id = P.compound_gate(s)
    return {"places": places, "gate": gate_id, "compound": compound_id}


def fired(rule: str, **overrides) -> dict[int, dict]:  # noqa: ANN003
    p = dataclasses.replace(params(), **overrides)
    with transaction() as s:
        return {f.subject_id: f.evidence | {"_confidence": f.confidence, "_severity": f.severity.value}
                for f in RULES[rule](s, AS_OF, p)}


def test_elderly_inactive(world: dict) -> None:
    pl, gate, comp = world["places"], world["gate"], world["compound"]
    with transaction() as s:
        stuck = pl.person_a  # tagged elderly_alone by places.build
        C.event(s, AS_OF - D(days=3, hours=2), gate, person_id=stuck, compound_id=comp)
        C.event(s, AS_OF - D(days=3, hours=1), gate, person_id=stuck, direction="in", compound_id=comp)
        # Went out at 23:59 local two days before: not absent for three days yet.
        late = C.person(s, pl.dwelling_a1, "赵老太", born=dt.date(1940, 5, 5), tags=(PersonTagKind.elderly_alone,))
        C.event(s, dt.datetime(2026, 11, 17, 15, 59, tzinfo=dt.timezone.utc), gate, person_id=late, compound_id=comp)
        # Never seen at a gate: a gap in the data, not an alert.
        C.person(s, pl.dwelling_a1, "钱老伯", born=dt.date(1938, 1, 1), tags=(PersonTagKind.elderly_alone,))
        disabled = C.person(s, pl.dwelling_a1, "孙某", tags=(PersonTagKind.disabled,))
        C.event(s, AS_OF - D(days=8), gate, person_id=disabled, compound_id=comp)
        C.event(s, AS_OF - D(days=1), gate, person_id=disabled, direction="in", compound_id=comp)  # came home: was out
        counted = C.person(s, pl.dwelling_a1, "李老伯", born=dt.date(1939, 2, 2), tags=(PersonTagKind.elderly_alone,))
        C.event(s, AS_OF - D(days=7), gate, person_id=counted, compound_id=comp, method="card")
        C.event(s, AS_OF - D(days=1), gate, direction="out", method="count", compound_id=comp)  # a head count names nobody
    found = fired("elderly_inactive")
    assert set(found) == {stuck, counted}
    assert found[counted]["_severity"] == "high" and found[stuck]["_severity"] == "medium"
    assert found[stuck]["days_without_activity"] == pytest.approx(3.04, abs=0.05)
    assert found[stuck]["says"][0].startswith("last seen: came in by face at 南门")
    with transaction() as s:  # the evidence links to the event it rests on
        linked = s.execute(text("SELECT person_id, direction::text FROM access_event WHERE event_id = CAST(:e AS uuid)"),
                           {"e": found[stuck]["events"][0]}).one()
    assert tuple(linked) == (stuck, "in")


def test_correction_movement_only_with_a_legal_basis_in_force(world: dict) -> None:
    pl, gate, comp = world["places"], world["gate"], world["compound"]
    with transaction() as s:
        active = C.person(s, pl.dwelling_a1, "周某", tags=(PersonTagKind.community_correction,), basis_expiry=dt.date(2027, 6, 1))
        expired = C.person(s, pl.dwelling_a1, "吴某", tags=(PersonTagKind.community_correction,), basis_expiry=dt.date(2026, 11, 19))
        quiet = C.person(s, pl.dwelling_a1, "郑某", tags=(PersonTagKind.community_correction,), basis_expiry=dt.date(2027, 6, 1))
        for pid in (active, expired):
            for night in (1, 2, 3):  # 00:30 Nanjing time on three nights
                C.event(s, AS_OF - D(days=night, hours=9, minutes=30), gate, person_id=pid, compound_id=comp)
        C.event(s, AS_OF - D(hours=5), gate, person_id=quiet, compound_id=comp)  # 13:00 local: ordinary
    found = fired("correction_movement")
    assert set(found) == {active}
    assert found[active]["reasons"] == ["night_movement"] and found[active]["night_events"] == 3
    assert len(found[active]["events"]) == 3
    with pytest.raises(IntegrityError, match="supervision_needs_legal_basis"):
        with transaction() as s:
            s.add(PersonTag(person_id=quiet, tag=PersonTagKind.key_control, set_by="test"))
            s.flush()


def test_group_rental_counts_occupants_against_the_cap(world: dict) -> None:
    pl = world["places"]
    with transaction() as s:
        small = registry.add_dwelling(s, code="XW-B001-1-0501", building_id=pl.building_a1, unit=1, floor=5, room="501", area_m2=60, rooms=2)
        large = registry.add_dwelling(s, code="XW-B001-2-0601", building_id=pl.building_a1, unit=2, floor=6, room="601", area_m2=130, rooms=4)
        owner = C.person(s, None, "房东")
        s.add(Ownership(dwelling_id=small.id, person_id=owner, since=dt.date(2010, 1, 1)))
        for i in range(6):  # 6 tenants registered there, nothing says they live elsewhere: cap floor(60/15) = 4
            tenant = C.person(s, small.id, f"租客{i}", kind=ResidenceKind.floating, expiry=dt.date(2027, 6, 1))
            s.add(AccessGrant(dwelling_id=small.id, owner_person_id=owner, grantee_person_id=tenant, kind=GrantKind.tenant,
                              valid_from=AS_OF - D(days=30)))
        revoked = C.person(s, None, "已退租", kind=ResidenceKind.floating, expiry=dt.date(2027, 6, 1))
        s.add(AccessGrant(dwelling_id=small.id, owner_person_id=owner, grantee_person_id=revoked, kind=GrantKind.tenant,
                          valid_from=AS_OF - D(days=90), revoked_at=AS_OF - D(days=40)))
        for i in range(6):  # a large family in a large flat: 6 people in 130 m² (cap 8)
            C.person(s, large.id, f"家人{i}")
        s.flush()
    found = fired("group_rental")
    assert set(found) == {small.id}
    assert found[small.id]["occupants"] == 6 and found[small.id]["cap"] == 4
    # Shanghai: < 5 m² each or > 2 per room: 6 people in 2 rooms is over (max 4)
    shanghai = fired("group_rental", group_rental_mode="shanghai")
    assert set(shanghai) == {small.id}


def test_departure_needs_expiry_soon_and_a_quiet_week(world: dict) -> None:
    pl, gate, comp = world["places"], world["gate"], world["compound"]
    with transaction() as s:
        left = C.person(s, pl.dwelling_a1, "离开者", kind=ResidenceKind.floating, expiry=dt.date(2027, 1, 15))
        C.event(s, AS_OF - D(days=9), gate, person_id=left, compound_id=comp)
        still_here = C.person(s, pl.dwelling_a1, "还在", kind=ResidenceKind.floating, expiry=dt.date(2027, 1, 15))
        C.event(s, AS_OF - D(days=9), gate, person_id=still_here, compound_id=comp)
        C.event(s, AS_OF - D(days=2), gate, person_id=still_here, direction="in", compound_id=comp)
        long_permit = C.person(s, pl.dwelling_a1, "长期", kind=ResidenceKind.floating, expiry=dt.date(2027, 8, 1))
        C.event(s, AS_OF - D(days=9), gate, person_id=long_permit, compound_id=comp)
    found = fired("departure")
    assert set(found) == {left}
    assert found[left]["action"] == "verify departure"


def test_arrival_registration_weighs_its_sources(world: dict) -> None:
    pl, gate, comp = world["places"], world["gate"], world["compound"]
    regular, passer_by = uuid.uuid4(), uuid.uuid4()
    with transaction() as s:
        for day in range(5):  # 20:00 local on five evenings
            C.event(s, AS_OF - D(days=day, hours=14), gate, direction="in", result="deny", compound_id=comp, stranger_id=regular)
        for day in range(2):  # on two evenings only: a visit
            C.event(s, AS_OF - D(days=day, hours=14, minutes=5), gate, direction="in", result="deny", compound_id=comp,
                    stranger_id=passer_by)
        # A dwelling whose water account is in a name nobody there has, and a frequent visitor.
        d = registry.add_dwelling(s, code="XW-B001-2-0201", building_id=pl.building_a1, unit=2, floor=2, room="201", area_m2=70, rooms=2)
        C.person(s, d.id, "户主甲")
        for day in range(10):
            s.add(UtilityReading(dwelling_id=d.id, kind=UtilityKind.water, day=(AS_OF - D(days=day)).date(), value=0.3,
                                 account_name="陌生名"))
        for i in range(5):
            s.add(VisitorPass(dwelling_id=d.id, issued_by_person_id=pl.person_a, visitor_name="常客", visitor_id_hash=b"v" * 32,
                              valid_from=AS_OF - D(days=3 * i + 1), valid_to=AS_OF - D(days=3 * i), entries_allowed=2))
        # The same signals, but the person already declared themselves: no alert.
        declared = registry.add_dwelling(s, code="XW-B001-2-0202", building_id=pl.building_a1, unit=2, floor=2, room="202", area_m2=70, rooms=2)
        C.person(s, declared.id, "户主乙")
        newcomer = C.person(s, None, "新来者", kind=ResidenceKind.floating, expiry=dt.date(2027, 5, 1))
        s.add(UtilityReading(dwelling_id=declared.id, kind=UtilityKind.water, day=AS_OF.date(), value=0.3, account_name="新来者"))
        s.add(SelfDeclaration(person_id=newcomer, dwelling_id=declared.id, period_from=dt.date(2026, 11, 1), relation_to_owner="租客"))
    with transaction() as s:
        findings = RULES["arrival_registration"](s, AS_OF, params())
    strangers = [f for f in findings if f.subject_kind == "stranger"]
    dwellings = {f.subject_id: f for f in findings if f.subject_kind == "dwelling"}
    assert [f.evidence["stranger_id"] for f in strangers] == [str(regular)]
    # Five passes never used (no passage) and a new name on the water account: not enough to say someone lives there.
    assert set(dwellings) == set()
    assert strangers[0].confidence > 0.9 and "score" in strangers[0].evidence["says"][-1]


def test_utility_anomalies_against_the_dwellings_own_baseline(world: dict) -> None:
    pl = world["places"]
    with transaction() as s:
        ids = {}
        for room, recent in (("701", 9.0), ("702", 1.0), ("703", 0.0), ("704", 0.1)):
            d = registry.add_dwelling(s, code=f"XW-B101-1-0{room}", building_id=pl.building_b1, unit=1, floor=7, room=room, area_m2=80, rooms=2)
            ids[room] = d.id
            resident = C.person(s, d.id, f"住户{room}")
            C.event(s, AS_OF - D(days=1), world["gate"], person_id=resident, direction="in", compound_id=world["compound"])
            for day in range(31):
                base = 1.0 + 0.1 * ((day * 7) % 3)
                value = recent if day < 3 else base
                s.add(UtilityReading(dwelling_id=d.id, kind=UtilityKind.electricity, day=(AS_OF - D(days=day)).date(), value=value))
    found = fired("utility_anomaly")
    assert {k: v["anomaly"] for k, v in found.items()} == {ids["701"]: "spike", ids["703"]: "zero_use_occupied", ids["704"]: "drop"}


def test_keysite_surge_against_the_same_hour_of_earlier_weeks(world: dict) -> None:
    pl = world["places"]
    with transaction() as s:
        site = KeySite(code="XW-KS1", name="测试小学", category=KeySiteCategory.school, grid_id=pl.grid_a2,
                       geom="SRID=4326;POLYGON((118.812 32.042,118.815 32.042,118.815 32.045,118.812 32.045,118.812 32.042))")
        quiet_site = KeySite(code="XW-KS2", name="测试医院", category=KeySiteCategory.hospital, grid_id=pl.grid_a2,
                             geom="SRID=4326;POLYGON((118.816 32.042,118.818 32.042,118.818 32.044,118.816 32.044,118.816 32.042))")
        s.add_all([site, quiet_site])
        s.flush()
        g1 = registry.add_gate(s, code="XW-KS1-C1", name="校门", kind=GateKind.counter, key_site_id=site.id, geom="POINT(118.812 32.043)")
        g2 = registry.add_gate(s, code="XW-KS2-C1", name="院门", kind=GateKind.counter, key_site_id=quiet_site.id, geom="POINT(118.816 32.043)")
        for week in range(4):
            for minute in range(0, 60, 5):
                at = AS_OF - D(weeks=week, minutes=minute)
                n = 40 if week == 0 else 2  # ~480 this hour against ~24 usually
                for gate in (g1.id,):
                    s.execute(text("INSERT INTO gate_flow_minute (gate_id, minute, entries) VALUES (:g, date_trunc('minute', CAST(:m AS timestamptz)), :n)"),
                              {"g": gate, "m": at, "n": n})
                s.execute(text("INSERT INTO gate_flow_minute (gate_id, minute, entries) VALUES (:g, date_trunc('minute', CAST(:m AS timestamptz)), 3)"),
                          {"g": g2.id, "m": at})
    found = fired("keysite_surge")
    assert set(found) == {site.id}
    assert found[site.id]["last_hour"] == 480 and found[site.id]["usual_same_hour"] == 24


def test_visitor_overstay(world: dict) -> None:
    pl, gate, comp = world["places"], world["gate"], world["compound"]
    with transaction() as s:
        passes = []
        for name in ("久留", "已离开", "刚来"):
            v = VisitorPass(dwelling_id=pl.dwelling_a1, issued_by_person_id=pl.person_a, visitor_name=name,
                            valid_from=AS_OF - D(hours=40), valid_to=AS_OF - D(hours=17), entries_allowed=1)
            s.add(v)
            passes.append(v)
        s.flush()
        C.event(s, AS_OF - D(hours=30), gate, direction="in", method="visitor_qr", compound_id=comp, pass_id=passes[0].id)
        C.event(s, AS_OF - D(hours=30), gate, direction="in", method="visitor_qr", compound_id=comp, pass_id=passes[1].id)
        C.event(s, AS_OF - D(hours=26), gate, direction="out", method="visitor_qr", compound_id=comp, pass_id=passes[1].id)
        C.event(s, AS_OF - D(hours=20), gate, direction="in", method="visitor_qr", compound_id=comp, pass_id=passes[2].id)
    with transaction() as s:
        findings = RULES["visitor_overstay"](s, AS_OF, params())
    assert [f.evidence["pass_id"] for f in findings] == [str(passes[0].id)]
