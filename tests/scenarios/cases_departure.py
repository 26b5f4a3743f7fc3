"""人走注销: a floating resident whose temporary residence ends within 3 months (or already ended), with
no activity at any gate for 7 days; never seen is a data gap."""
from __future__ import annotations

import datetime as dt

from tests.scenarios.dsl import Case, Pass, Passage, Person, Site, T, ago, daily


def tenant(expiry: dt.date, kind: str = "floating") -> Person:
    return Person("租客", home="home", kind=kind, expiry=expiry if kind in ("floating", "overseas") else None)


SOON = dt.date(2026, 12, 20)


def c(name: str, fires: bool, why: str, *passages: Passage, person: Person | None = None, **kw) -> Case:  # noqa: ANN003
    return Case("departure", name, why, fires, ("person", "租客"), people=(person or tenant(SOON), *kw.pop("people", ())),
                passages=passages, **kw)


CASES = [
    # --- fires ---
    c("quiet-nine-days-expiring-next-month", True, "permit ends in a month, last passage 9 days ago",
      *daily("租客", 20, 9)),
    c("lapsed-permit", True, "permit ended 10 days ago and not seen for 12 days: a lapsed permit is still a departure to verify",
      *daily("租客", 25, 12), person=tenant(dt.date(2026, 11, 10))),
    c("expiry-just-inside-three-months", True, "permit ends in 2 months 27 days; quiet 8 days",
      Passage("租客", "out", ago(days=8)), person=tenant(dt.date(2027, 2, 16))),
    c("expires-today", True, "permit ends today (local); quiet 10 days", Passage("租客", "out", ago(days=10)),
      person=tenant(dt.date(2026, 11, 20))),
    c("last-seen-coming-in", True, "last passage an entry 8 days ago, nothing since", Passage("租客", "in", ago(days=8))),
    c("last-seen-elsewhere", True, "last seen at another compound 9 days ago", Passage("租客", "in", ago(days=9), gate="other")),
    c("head-counts-do-not-clear", True, "the gate counted heads daily; none of them names him; quiet 10 days",
      Passage("租客", "out", ago(days=10)), *(Passage(None, "in", ago(days=k), method="count") for k in range(8))),
    c("seven-days-and-two-hours", True, "quiet 7 days and 2 hours", Passage("租客", "out", ago(days=7, hours=2))),
    c("lapsed-yesterday-at-0100", True, "permit's last day was yesterday (local), quiet 9 days; at 01:00 local it has lapsed",
      Passage("租客", "out", ago(days=9)), person=tenant(dt.date(2026, 11, 19)), as_of=T("11-20 01:00")),
    c("last-seen-at-a-key-site", True, "last seen at a hospital 14 days ago", Passage("租客", "in", ago(days=14), gate="医院"),
      sites=(Site("医院"),)),
    c("guest-came-he-did-not", True, "a guest came on a pass yesterday; he has not passed for 9 days",
      Passage("租客", "out", ago(days=9)), Passage("pass:v", "in", ago(days=1)), Passage("pass:v", "out", ago(hours=22)),
      passes=(Pass("v", "home", "朋友", ago(days=1, hours=1)),)),
    # --- must not fire ---
    c("permit-runs-five-more-months", False, "permit ends in 5 months: not due", Passage("租客", "out", ago(days=9)),
      person=tenant(dt.date(2027, 4, 20))),
    c("seen-two-days-ago", False, "permit ends soon but he passed the gate 2 days ago", *daily("租客", 10, 2)),
    c("active-at-another-compound", False, "seen at another compound yesterday: activity anywhere counts",
      Passage("租客", "out", ago(days=12)), Passage("租客", "in", ago(days=1), gate="other")),
    c("hospital-three-days-ago", False, "seen at a hospital's face gate 3 days ago",
      Passage("租客", "out", ago(days=12)), Passage("租客", "in", ago(days=3), gate="医院"), sites=(Site("医院"),)),
    c("registered-resident", False, "a registered (户籍) resident, not a floating one: no temporary permit to close",
      Passage("租客", "out", ago(days=20)), person=tenant(SOON, kind="registered")),
    c("never-seen", False, "never seen at a gate in 60 days: a data gap, not a departure"),
    c("six-days-twenty-hours", False, "quiet 6 days 20 hours: not yet 7", Passage("租客", "out", ago(days=6, hours=20))),
    c("expiry-past-three-months", False, "permit ends in 3 months and 5 days", Passage("租客", "out", ago(days=9)),
      person=tenant(dt.date(2027, 2, 25))),
    c("came-in-by-card-yesterday", False, "came in by card yesterday after 10 days away: he is back",
      Passage("租客", "out", ago(days=11)), Passage("租客", "in", ago(days=1), method="card")),
    c("guard-registered", False, "the guard registered him (named) 3 days ago", Passage("租客", "out", ago(days=12)),
      Passage("租客", "in", ago(days=3), method="manual")),
    c("code-four-days-ago", False, "went out with his resident code 4 days ago", Passage("租客", "out", ago(days=4), method="resident_qr")),
]
