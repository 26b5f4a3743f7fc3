"""独居老人/残疾人: someone tagged elderly-alone or disabled, not out and about (any passage, any gate,
any method) for 3 days; someone never seen in 60 days is a data gap."""
from __future__ import annotations

import datetime as dt

from tests.scenarios.dsl import Case, Pass, Passage, Person, Site, T, Tag, ago, daily

OLD = Person("老人", home="home", born=dt.date(1940, 3, 1), tags=(Tag("elderly_alone"),))
DISABLED = Person("老人", home="home", born=dt.date(1970, 3, 1), tags=(Tag("disabled"),))
NEIGHBOUR = Person("邻居", home="home", born=dt.date(1980, 1, 1))


def c(name: str, fires: bool, why: str, *passages: Passage, person: Person = OLD, **kw) -> Case:  # noqa: ANN003
    return Case("elderly_inactive", name, why, fires, ("person", "老人"), people=(person, *kw.pop("people", ())),
                passages=tuple(passages), **kw)


CASES = [
    # --- fires ---
    c("out-and-back-four-days-ago", True, "went out and came back 4 days ago, nothing since: 3.9 days without activity",
      Passage("老人", "out", ago(days=4, hours=2)), Passage("老人", "in", ago(days=4))),
    c("left-by-card-five-days-ago", True, "last passage an exit by card 5 days ago: no activity anywhere for 5 days",
      Passage("老人", "out", ago(days=5), method="card")),
    c("disabled-came-in-by-code", True, "a disabled person last seen coming in by resident code 3.5 days ago",
      Passage("老人", "in", ago(days=3, hours=12), method="resident_qr"), person=DISABLED),
    c("routine-stopped-six-days-ago", True, "went out daily, then nothing for the last 6 days",
      *daily("老人", 20, 6, out="09:00", back="11:00")),
    c("head-counts-do-not-clear", True, "the gate counted heads every day, but none of them names her; she is silent 4 days",
      Passage("老人", "in", ago(days=4)), *(Passage(None, "out", ago(days=k, hours=1), method="count") for k in range(4)),
      ),
    c("just-past-three-days", True, "last passage 3 days and 1 hour ago: past the threshold",
      Passage("老人", "in", ago(days=3, hours=1), method="card")),
    c("only-seen-at-the-hospital", True, "last seen at a hospital's face gate 10 days ago: any gate counts, and it is 10 days",
      Passage("老人", "in", ago(days=10), gate="医院"), sites=(Site("医院"),)),
    c("late-evening-four-days-ago", True, "last passage at 23:50 local four evenings ago: 3.4 days",
      Passage("老人", "in", T("11-16 23:50"))),
    c("last-seen-entering-another-compound", True, "last seen entering another compound 5 days ago",
      Passage("老人", "in", ago(days=5), gate="other")),
    c("visitor-came-not-her", True, "her visitor came yesterday on a pass; that is the visitor's passage, not hers",
      Passage("老人", "in", ago(days=4, hours=3)), Passage("pass:v", "in", ago(days=1)), Passage("pass:v", "out", ago(hours=20)),
      passes=(Pass("v", "home", "女儿", ago(days=1, hours=1)),)),
    c("neighbour-active-she-is-not", True, "a neighbour of the same flat passes daily; she has not for 4 days",
      Passage("老人", "out", ago(days=4, hours=1)), Passage("老人", "in", ago(days=4)), *daily("邻居", 5, 1),
      people=(NEIGHBOUR,)),
    # --- must not fire ---
    c("out-at-2359-two-days-ago", False, "went out at 23:59 local two days ago: 1.4 days, not 3",
      Passage("老人", "out", T("11-18 23:59"))),
    c("never-seen", False, "never seen at any gate in 60 days: a gap in the data, not an alert"),
    c("came-in-yesterday", False, "came in by card yesterday after going out 8 days ago: the entry proves she was out",
      Passage("老人", "out", ago(days=8)), Passage("老人", "in", ago(days=1), method="card")),
    c("active-at-another-compound", False, "passed another compound's gate yesterday: activity anywhere counts",
      Passage("老人", "out", ago(days=6)), Passage("老人", "in", ago(days=1), gate="other"),
      Passage("老人", "out", ago(hours=20), gate="other")),
    c("hospital-visit-yesterday", False, "seen at the hospital's face gate yesterday",
      Passage("老人", "out", ago(days=5)), Passage("老人", "in", ago(days=1), gate="医院"), sites=(Site("医院"),)),
    c("registered-by-the-guard", False, "the guard registered her going out 1 day ago (manual, named)",
      Passage("老人", "out", ago(days=1), method="manual")),
    c("just-under-three-days", False, "last passage 2 days 23 hours ago: not yet 3 days",
      Passage("老人", "in", ago(days=2, hours=23))),
    c("code-two-and-a-half-days", False, "went out with her resident code 2.5 days ago",
      Passage("老人", "out", ago(days=2, hours=12), method="resident_qr")),
    c("untagged-person", False, "not tagged elderly-alone or disabled: the rule is not about him",
      Passage("老人", "out", ago(days=10)), person=Person("老人", home="home", born=dt.date(1950, 1, 1))),
    c("seen-only-before-the-look-back", False, "last seen 70 days ago: outside the 60-day look-back, a data gap",
      Passage("老人", "in", ago(days=70))),
    c("daily-routine", False, "goes out every day, last came in yesterday evening", *daily("老人", 10, 1, out="08:30", back="10:30")),
    c("after-midnight-two-days-ago", False, "went out at 00:30 local two days ago (16:30 UTC the day before): 2.4 days",
      Passage("老人", "out", T("11-18 00:30"))),
]
