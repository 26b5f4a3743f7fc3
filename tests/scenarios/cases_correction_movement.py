"""社区矫正: a supervised person (legal basis in force, local dates) absent 2 days, moving at night
(23:00–05:00 local) twice in 7 days, or in another compound; activity is any person-linked passage."""
from __future__ import annotations

import datetime as dt

from tests.scenarios.dsl import Case, Passage, Person, Site, T, Tag, ago, daily

BASIS = Tag("community_correction", "社区矫正决定书 (2026) 宁0113刑执12号", dt.date(2027, 6, 1))
SUP = Person("矫正", home="home", tags=(BASIS,))
ROUTINE = daily("矫正", 14, 1, out="08:00", back="18:30")


def c(name: str, fires: bool, why: str, *passages: Passage, person: Person = SUP, routine: bool = True, **kw) -> Case:  # noqa: ANN003
    return Case("correction_movement", name, why, fires, ("person", "矫正"), people=(person,),
                passages=(*(ROUTINE if routine else ()), *passages), **kw)


def night(day: str, at: str = "00:30", back: str = "01:30", gate: str = "home", method: str = "card") -> tuple[Passage, Passage]:
    return (Passage("矫正", "out", T(f"{day} {at}"), method=method, gate=gate),
            Passage("矫正", "in", T(f"{day} {back}"), method=method, gate=gate))


CASES = [
    # --- fires ---
    c("two-nights-out", True, "out and back between 00:30 and 01:30 local on two nights this week", *night("11-17"), *night("11-19")),
    c("entered-another-compound", True, "came in at another compound's gate yesterday afternoon",
      Passage("矫正", "in", T("11-19 15:00"), gate="other")),
    c("absent-three-days", True, "last passage an exit 3 days ago: absent for 3 days", Passage("矫正", "out", ago(days=3)),
      routine=False),
    c("routine-stopped", True, "went out daily, nothing in the last 2.5 days", *daily("矫正", 14, 3), routine=False),
    c("nights-at-a-key-site", True, "passed a hospital's gate at 02:00 local on two nights: night movement anywhere",
      Passage("矫正", "in", T("11-16 02:00"), gate="医院"), Passage("矫正", "in", T("11-18 02:10"), gate="医院"),
      sites=(Site("医院"),)),
    c("left-another-compound", True, "seen leaving another compound (came in unseen): he was there",
      Passage("矫正", "out", T("11-19 16:00"), gate="other", method="card")),
    c("basis-ends-today", True, "his basis's last day is today (local): still in force, and he moved at night twice",
      *night("11-17"), *night("11-18"), person=Person("矫正", home="home", tags=(Tag("community_correction", "决定书", dt.date(2026, 11, 20)),))),
    c("late-evening-local", True, "out at 23:30 local (15:30 UTC) on two nights: night is local time",
      *night("11-16", "23:15", "23:45"), *night("11-18", "23:20", "23:50")),
    c("early-morning-local", True, "out at 04:30 local on two mornings, before 05:00", *night("11-15", "04:10", "04:40"),
      *night("11-17", "04:20", "04:50")),
    c("guard-registered-elsewhere", True, "registered by another compound's guard on entering (manual, named)",
      Passage("矫正", "in", T("11-18 11:00"), gate="other", method="manual")),
    c("absent-despite-head-counts", True, "silent 3 days while the gate counted heads: counts name nobody",
      Passage("矫正", "out", ago(days=3)), *(Passage(None, "in", ago(days=k), method="count") for k in range(3)), routine=False),
    # --- must not fire ---
    c("basis-ended-yesterday-at-0100", False, "his basis's last day was yesterday (local); at 01:00 local today it is over",
      *night("11-16"), *night("11-18"), routine=False,
      person=Person("矫正", home="home", tags=(Tag("community_correction", "决定书", dt.date(2026, 11, 19)),)),
      as_of=T("11-20 01:00")),
    c("basis-expired-last-week", False, "his basis expired 10 days ago: the rule no longer covers him", *night("11-17"), *night("11-18"),
      person=Person("矫正", home="home", tags=(Tag("community_correction", "决定书", dt.date(2026, 11, 10)),))),
    c("ordinary-days", False, "out in the morning and home in the evening every day"),
    c("just-outside-the-night", False, "passages at 22:30 and 05:30 local: outside 23:00–05:00",
      Passage("矫正", "out", T("11-17 22:30")), Passage("矫正", "in", T("11-18 05:30"))),
    c("one-night-only", False, "a single night passage in 7 days (the threshold is two)",
      Passage("矫正", "out", T("11-18 00:30"))),
    c("nights-more-than-a-week-ago", False, "night passages 9 and 10 days ago: outside the 7-day window",
      *night("11-10"), *night("11-11")),
    c("market-by-day", False, "entered a market (a key site, not a compound) in the daytime",
      Passage("矫正", "in", T("11-19 10:00"), gate="市场"), sites=(Site("市场", "market"),)),
    c("one-and-a-half-days", False, "last passage 1.5 days ago: not yet absent for 2 days",
      *daily("矫正", 10, 2), Passage("矫正", "out", ago(days=1, hours=12)), routine=False),
    c("utc-night-is-local-morning", False, "passages at 07:30 and 08:00 local (23:30 and 00:00 UTC): morning, not night",
      *night("11-17", "07:30", "07:45"), *night("11-18", "07:50", "08:00")),
    c("untagged-night-owl", False, "moves at night, but has no supervision tag", *night("11-17"), *night("11-18"),
      person=Person("矫正", home="home")),
    c("head-counts-at-night", False, "the gate counted heads at night; none of them is him",
      *(Passage(None, "out", T(f"11-1{k} 01:00"), method="count") for k in (6, 7, 8))),
    c("key-control-tag-only", False, "a key-control tag, not community correction: not this rule", *night("11-17"), *night("11-18"),
      person=Person("矫正", home="home", tags=(Tag("key_control", "重点管控决定", dt.date(2027, 1, 1)),))),
]
