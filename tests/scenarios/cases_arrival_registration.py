"""人来登记: someone who lives here unregistered — an unknown face seen evenings over days, a grantee or a
pass visitor staying nights over weeks; not a resident whose face failed and who opened at once with
her own code or card, not couriers, riders, carers or the odd guest; not someone who already declared."""
from __future__ import annotations

import datetime as dt

from tests.scenarios.dsl import (
    Case, Declaration, Dwelling, Grant, Pass, Passage, Person, Utility, ago, daily, series, visits,
)

OWNER = Person("房主", born=dt.date(1960, 1, 1))
FLAT = (Dwelling("flat"),)
EXP = dt.date(2027, 6, 1)


def c(name: str, fires: bool, why: str, subject: tuple[str, str], **kw) -> Case:  # noqa: ANN003
    kw["people"] = (OWNER, *kw.get("people", ()))
    return Case("arrival_registration", name, why, fires, subject, dwellings=FLAT, **kw)


def unknown(label: str, days: tuple[int, ...], at: str, *, direction: str = "in") -> tuple[Passage, ...]:
    """The unknown face ``label`` refused at the home gate at local ``at`` on each of ``days`` days ago."""
    hh, mm = map(int, at.split(":"))
    return tuple(Passage(f"stranger:{label}", direction, ago(days=k) + dt.timedelta(hours=hh - 10, minutes=mm), result="deny")
                 for k in days)


def passes(label: str, days: tuple[int, ...], come: str, leave_next_morning: bool, *, id_number: str | None = "v",
           name: str = "访客") -> dict:
    hh, mm = map(int, come.split(":"))
    ps, ev = [], []
    for k in days:
        start = ago(days=k) + dt.timedelta(hours=hh - 10, minutes=mm - 30)
        ps.append(Pass(f"{label}{k}", "flat", name, start, hours=14 if leave_next_morning else 3, id_number=id_number))
        ev.append(Passage(f"pass:{label}{k}", "in", start + dt.timedelta(minutes=30)))
        ev.append(Passage(f"pass:{label}{k}", "out", start + dt.timedelta(hours=12 if leave_next_morning else 2)))
    return {"passes": tuple(ps), "passages": tuple(ev)}


TENANT = Person("租客", kind="floating", expiry=EXP)
GRANT = (Grant("flat", "房主", "租客", start=ago(days=40)),)

CASES = [
    # --- fires ---
    c("unknown-face-five-evenings", True, "an unknown face refused on five evenings in ten days at the same gate",
      ("stranger", "s"), passages=unknown("s", (1, 3, 4, 7, 9), "19:40")),
    c("unknown-face-evenings-and-mornings", True, "seen coming in at night and going out early on six days",
      ("stranger", "s"), passages=unknown("s", (1, 2, 4, 6), "21:10") + unknown("s", (2, 5), "07:10", direction="out")),
    c("tenant-on-the-owners-grant", True, "entered on the owner's grant every day for three weeks, sleeps there, never registered",
      ("person", "租客"), people=(TENANT,), grants=GRANT, passages=daily("租客", 21, 1)),
    c("cousin-on-a-family-grant", True, "a 'family' grantee who sleeps there nightly for two weeks, not registered",
      ("person", "租客"), people=(TENANT,), grants=(Grant("flat", "房主", "租客", kind="family", start=ago(days=20)),),
      passages=daily("租客", 14, 1, out="09:00", back="20:00")),
    c("overnight-visitor-on-passes", True, "a 'visitor' on a new pass each evening who leaves the next morning, 8 nights in 14",
      ("dwelling", "flat"), people=(Person("户主", home="flat"),), **passes("p", (13, 11, 9, 8, 6, 4, 3, 1), "20:30", True)),
    c("overnight-visitor-without-id", True, "the same nightly pattern on passes issued without an ID number (said, scored lower)",
      ("dwelling", "flat"), people=(Person("户主", home="flat"),),
      **passes("p", (13, 12, 10, 9, 7, 6, 5, 3, 2, 1), "20:30", True, id_number=None, name="小张")),
    c("unknown-face-four-evenings", True, "an unknown face on four evenings in two weeks", ("stranger", "s"),
      passages=unknown("s", (2, 5, 8, 12), "20:15")),
    c("tenant-and-utility-account", True, "an unregistered grantee staying nightly, and the water account is in his name",
      ("person", "租客"), people=(TENANT,), grants=GRANT, passages=daily("租客", 12, 1),
      utilities=(Utility("flat", "water", series(0.3, days=20), account="租客"),)),
    c("tenant-by-resident-code", True, "ten days of nights on the grant, opening with a resident code",
      ("person", "租客"), people=(TENANT,), grants=GRANT, passages=daily("租客", 10, 1, method="resident_qr")),
    c("stranger-among-residents-coming-home", True,
      "refused on five evenings; different residents happened to open just after: passers-by, not her",
      ("stranger", "s"), people=tuple(Person(f"邻{i}", home="flat") for i in range(5)),
      passages=unknown("s", (1, 3, 5, 7, 9), "19:00") + tuple(
          Passage(f"邻{i}", "in", ago(days=k) + dt.timedelta(hours=9, seconds=40)) for i, k in enumerate((1, 3, 5, 7, 9)))),
    c("unknown-face-late-nights", True, "an unknown face at 22:30 on seven days", ("stranger", "s"),
      passages=unknown("s", (1, 2, 3, 5, 6, 8, 10), "22:30")),
    # --- must not fire ---
    c("resident-face-not-recognised", False, "her face failed, and within 30 s she opened with her own card; five evenings: her",
      ("stranger", "s"), people=(Person("住户", home="flat"),),
      passages=unknown("s", (1, 3, 4, 7, 9), "19:40") + tuple(
          Passage("住户", "in", ago(days=k) + dt.timedelta(hours=9, minutes=40, seconds=30), method="card") for k in (1, 3, 4, 7, 9))),
    c("courier", False, "an unknown face refused daily 10:00–16:00 for twelve days: a courier", ("stranger", "s"),
      passages=tuple(p for k in range(12, 0, -1) for p in unknown("s", (k,), f"{10 + k % 6}:{(k * 7) % 60:02d}"))),
    c("daytime-carer-on-passes", False, "a carer on passes 09:00–11:00 daily for twelve days: visits",
      ("dwelling", "flat"), people=(Person("老人", home="flat"),), **passes("p", tuple(range(12, 0, -1)), "09:00", False, name="护工")),
    c("unknown-face-two-days", False, "an unknown face on two days only", ("stranger", "s"), passages=unknown("s", (2, 5), "20:00")),
    c("already-declared", False, "a grantee living there who has already self-declared: verification is on its way",
      ("person", "租客"), people=(TENANT,), grants=GRANT, passages=daily("租客", 21, 1),
      declarations=(Declaration("租客", "flat"),)),
    c("registered-grantee", False, "a grantee whose registered home is this flat: registered already",
      ("person", "租客"), people=(Person("租客", home="flat", kind="floating", expiry=EXP),), grants=GRANT, passages=daily("租客", 21, 1)),
    c("relative-now-and-then", False, "a relative on passes three times in two weeks, one night among them",
      ("dwelling", "flat"), people=(Person("户主", home="flat"),),
      **{k: passes("p", (12, 7), "14:00", False)[k] + passes("q", (3,), "19:00", True)[k] for k in ("passes", "passages")}),
    c("former-tenants-utility-account", False, "only the electricity account is still in a former tenant's name",
      ("dwelling", "flat"), people=(Person("户主", home="flat"),),
      utilities=(Utility("flat", "electricity", series(8, days=20), account="前租客"),)),
    c("daughter-visits-by-day", False, "the owner's daughter on a family grant, 10:00–17:00 daily: she cares, she lives elsewhere",
      ("person", "租客"), people=(TENANT,), grants=(Grant("flat", "房主", "租客", kind="family", start=ago(days=30)),),
      passages=visits("租客", 14, 1, come="10:00", leave="17:00")),
    c("resident-code-after-a-minute", False, "face failed, then her own resident code 60 s later, on six days: linked to her",
      ("stranger", "s"), people=(Person("住户", home="flat"),),
      passages=unknown("s", (1, 2, 4, 6, 8, 11), "18:50") + tuple(
          Passage("住户", "in", ago(days=k) + dt.timedelta(hours=8, minutes=51), method="resident_qr") for k in (1, 2, 4, 6, 8, 11))),
    c("delivery-rider-lunchtime", False, "a rider refused 11:00–13:30 on fourteen days", ("stranger", "s"),
      passages=tuple(p for k in range(14, 0, -1) for p in unknown("s", (k,), f"{11 + k % 3}:{(k * 11) % 60:02d}"))),
    c("someone-else-declared", True, "another lodger of the flat self-declared; this grantee, staying nightly, did not",
      ("person", "租客"), people=(TENANT, Person("另一位", kind="floating", expiry=EXP)), grants=GRANT,
      passages=daily("租客", 16, 1), declarations=(Declaration("另一位", "flat"),)),
    c("dinner-rider", False, "an unknown face in at 19:00 and out at 19:10 on ten evenings: a delivery, not a home",
      ("stranger", "s"), passages=tuple(p for k in range(10, 0, -1) for p in (*unknown("s", (k,), "19:00"),
                                                                               *unknown("s", (k,), "19:10", direction="out")))),
    c("lives-in-recorded", False, "a grantee with a lives-in relation recorded for this flat: registered",
      ("person", "租客"), people=(TENANT,), grants=GRANT, lives_in=(("租客", "flat"),), passages=daily("租客", 21, 1)),
]
