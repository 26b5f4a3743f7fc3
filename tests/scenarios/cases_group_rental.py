"""群租房: a let dwelling with more people actually staying (overnight, over weeks) than its area allows;
tenure matters, members living elsewhere and short daytime visitors do not count."""
from __future__ import annotations

import datetime as dt

from tests.scenarios.dsl import Case, Dwelling, Family, Grant, Pass, Passage, Person, Rental, ago, daily

FLAT = Dwelling("flat", area=60, rooms=2)  # Nanjing cap: floor(60 / 15) = 4
OWNER = Person("房东", born=dt.date(1965, 2, 2))
EXP = dt.date(2027, 6, 1)


def tenants(n: int, prefix: str = "租客", *, registered: bool = False, grant: bool = True, days: int = 25,
            back: str = "19:00", out: str = "08:00", gate: str = "home", method: str = "face") -> dict:
    people = tuple(Person(f"{prefix}{i}", home="flat" if registered else None, kind="floating", expiry=EXP) for i in range(n))
    return {"people": people,
            "grants": tuple(Grant("flat", "房东", p.name, start=ago(days=days + 5)) for p in people) if grant else (),
            "passages": tuple(x for p in people for x in daily(p.name, days, 1, out=out, back=back, gate=gate, method=method))}


def merge(*parts: dict) -> dict:
    out: dict = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, ()) + tuple(v)
    return out


def c(name: str, fires: bool, why: str, *, dwelling: Dwelling = FLAT, **kw) -> Case:  # noqa: ANN003
    kw["people"] = (OWNER, *kw.get("people", ()))
    return Case("group_rental", name, why, fires, ("dwelling", "flat"), dwellings=kw.pop("dwellings", (dwelling,)), **kw)


def night_visitor(label: str, name: str, nights: int, id_number: str) -> dict:
    passes = tuple(Pass(f"{label}{k}", "flat", name, ago(days=k, hours=-10), hours=14, id_number=id_number, issued_by="租客0")
                   for k in range(nights, 0, -1))  # valid 20:00 → 10:00 next day
    passages = tuple(x for k in range(nights, 0, -1) for x in (
        Passage(f"pass:{label}{k}", "in", ago(days=k, hours=-11)), Passage(f"pass:{label}{k}", "out", ago(days=k - 1, hours=2, minutes=30))))
    return {"passes": passes, "passages": passages}


CASES = [
    # --- fires ---
    c("six-tenants-on-grants", True, "six tenants on the owner's grants sleep there nightly in 60 m² (cap 4)", **tenants(6)),
    c("five-registered-tenants", True, "a rental in force, five registered tenants staying nightly (cap 4)",
      rentals=(Rental("flat", "房东", "租客0"),), **tenants(5, registered=True, grant=False)),
    c("sublet", True, "a lessee sublets: three lessees and three lodgers on grants stay nightly",
      rentals=(Rental("flat", "房东", "甲0"), Rental("flat", "房东", "甲1"), Rental("flat", "房东", "甲2")),
      **merge(tenants(3, "甲", registered=True, grant=False), tenants(3, "乙"))),
    c("tenants-and-overnight-visitors", True, "four tenants and two 'visitors' who sleep there on daily passes for 10 nights",
      **merge(tenants(4), night_visitor("a", "常住甲", 10, "visitor-a"), night_visitor("b", "常住乙", 10, "visitor-b"))),
    c("small-flat-three", True, "three tenants staying in 30 m² (cap 2)", dwelling=Dwelling("flat", area=30, rooms=1), **tenants(3)),
    c("registered-no-gate-data", True, "five tenants registered there under a rental, no gate on record contradicts it",
      rentals=(Rental("flat", "房东", "租客0"),), people=tuple(Person(f"租客{i}", home="flat", kind="floating", expiry=EXP) for i in range(5))),
    c("night-shift-workers", True, "six tenants who come home at 23:30 and leave at 06:00 every day",
      **tenants(6, back="23:30", out="06:00")),
    c("codes-and-cards", True, "five tenants opening with resident codes and cards, nightly", **merge(tenants(3, method="resident_qr"),
                                                                                             tenants(2, "卡", method="card"))),
    c("marked-rented", True, "marked rented (no rental record): six registered occupants staying nightly",
      dwelling=Dwelling("flat", area=60, rooms=2, use="rented"), **tenants(6, registered=True, grant=False)),
    c("seven-in-forty-five", True, "seven tenants in 45 m² (cap 3), with a daytime carer besides",
      dwelling=Dwelling("flat", area=45, rooms=2), **merge(tenants(7), {
          "passes": tuple(Pass(f"c{k}", "flat", "护工", ago(days=k, hours=1), hours=4, id_number="carer") for k in range(10, 0, -1)),
          "passages": tuple(x for k in range(10, 0, -1) for x in (Passage(f"pass:c{k}", "in", ago(days=k)),
                                                                   Passage(f"pass:c{k}", "out", ago(days=k, hours=-2))))})),
    c("absentee-owner-lives-in-relations", True,
      "the owner lives elsewhere; five people recorded as living there (lives-in relations) sleep there nightly",
      owners=(("flat", "房东"),), lives_in=tuple((f"住{i}", "flat") for i in range(5)), **tenants(5, "住", grant=False)),
    c("tenants-over-five-weeks", True, "five tenants on grants staying nightly for the whole month", **tenants(5, days=29)),
    # --- must not fire ---
    c("large-family-large-flat", False, "six people in 130 m² (cap 8): a large family, not a group rental",
      dwelling=Dwelling("flat", area=130, rooms=4), rentals=(Rental("flat", "房东", "租客0"),), **tenants(6)),
    c("owner-occupied-crowded", False, "the owner's family of six in its own 60 m² flat: not a rental",
      owners=(("flat", "家人0"),), families=(Family("flat", "家人0", tuple(f"家人{i}" for i in range(1, 6))),),
      **tenants(6, "家人", registered=True, grant=False)),
    c("three-grants-revoked", False, "six grants, three revoked when those tenants left: three stay",
      **merge(tenants(3), {"people": tuple(Person(f"旧{i}", kind="floating", expiry=EXP) for i in range(3)),
                           "grants": tuple(Grant("flat", "房东", f"旧{i}", start=ago(days=90), revoked=ago(days=40)) for i in range(3))})),
    c("registered-living-elsewhere", False, "six registered there, three of whom sleep at another compound every night",
      rentals=(Rental("flat", "房东", "租客0"),), **merge(tenants(3, registered=True, grant=False),
                                                       tenants(3, "外", registered=True, grant=False, gate="other"))),
    c("daytime-carers", False, "four tenants, and three carers/cleaners who come 10:00–12:00 on passes: visits",
      **merge(tenants(4), *({"passes": tuple(Pass(f"{w}{k}", "flat", f"护工{w}", ago(days=k, hours=1), hours=4, id_number=f"carer-{w}",
                                                  issued_by="租客0") for k in range(20, 0, -1)),
                             "passages": tuple(x for k in range(20, 0, -1) for x in (
                                 Passage(f"pass:{w}{k}", "in", ago(days=k)), Passage(f"pass:{w}{k}", "out", ago(days=k, hours=-2))))}
                            for w in "xyz"))),
    c("members-living-elsewhere", False, "four tenants; two household members registered elsewhere, never seen here",
      families=(Family("flat", "户主", ("成员1",)),),
      **merge(tenants(4), {"people": (Person("户主", home=None), Person("成员1", home=None))})),
    c("dinner-guests", False, "four tenants and two friends who came for dinner three times (left the same evening)",
      **merge(tenants(4), *({"passes": tuple(Pass(f"{w}{k}", "flat", f"朋友{w}", ago(days=k, hours=-8), hours=5, id_number=f"friend-{w}",
                                                  issued_by="租客0") for k in (9, 6, 3)),
                             "passages": tuple(x for k in (9, 6, 3) for x in (
                                 Passage(f"pass:{w}{k}", "in", ago(days=k, hours=-9)),
                                 Passage(f"pass:{w}{k}", "out", ago(days=k, hours=-12))))} for w in "mn"))),
    c("grants-ended", False, "five grants, two of which ended last week (valid_to past): three stay",
      **merge(tenants(3), {"people": tuple(Person(f"退{i}", kind="floating", expiry=EXP) for i in range(2)),
                           "grants": tuple(Grant("flat", "房东", f"退{i}", start=ago(days=60), end=ago(days=7)) for i in range(2)),
                           "passages": tuple(x for i in range(2) for x in daily(f"退{i}", 25, 8))})),
    c("registered-here-recorded-living-elsewhere", False,
      "four tenants stay; two more registered here are recorded as living in another flat (lives-in relation)",
      dwellings=(FLAT, Dwelling("elsewhere")), lives_in=(("登0", "elsewhere"), ("登1", "elsewhere")),
      **merge(tenants(4), {"people": tuple(Person(f"登{i}", home="flat") for i in range(2))})),
    c("exactly-at-cap", False, "four tenants in 60 m²: at the cap, not over it", **tenants(4)),
    c("newcomers-not-yet-staying", False, "four tenants, and two who arrived three days ago: not yet staying over weeks",
      **merge(tenants(4), tenants(2, "新", days=3))),
    c("former-tenants", False, "the rental ended last month and its six tenants' grants were revoked; none seen since",
      rentals=(Rental("flat", "房东", "租客0", start=dt.date(2026, 3, 1), end=dt.date(2026, 10, 15)),),
      people=tuple(Person(f"租客{i}", kind="floating", expiry=EXP) for i in range(6)),
      grants=tuple(Grant("flat", "房东", f"租客{i}", start=ago(days=200), revoked=ago(days=36)) for i in range(6))),
]
