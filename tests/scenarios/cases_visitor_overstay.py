"""访客超时: a visitor who came in on a pass over 24 hours ago with no later passage of that pass (or of
the same visitor on another pass); the alert says the exit may simply not have been recorded."""
from __future__ import annotations

from tests.scenarios.dsl import Case, Pass, Passage, Person, T, ago

HOST = Person("主人", home="home")


def c(name: str, fires: bool, why: str, *passages: Passage, passes: tuple[Pass, ...] | None = None, **kw) -> Case:  # noqa: ANN003
    return Case("visitor_overstay", name, why, fires, ("pass", "v"), people=(HOST,), passages=passages,
                passes=passes or (Pass("v", "home", "访客甲", ago(days=2)),), **kw)


def v(hours_ago: float) -> Passage:
    return Passage("pass:v", "in", ago(hours=hours_ago))


CASES = [
    # --- fires ---
    c("in-thirty-hours-ago", True, "came in 30 hours ago, no exit recorded", v(30)),
    c("in-twenty-five-hours-ago", True, "came in 25 hours ago, no exit recorded: past 24 hours", v(25)),
    c("in-three-days-ago", True, "came in 3 days ago, no exit", v(72), passes=(Pass("v", "home", "访客甲", ago(days=3, hours=1)),)),
    c("pass-without-id", True, "no exit for 30 hours; the pass has no ID number (lower confidence, still asked)", v(30),
      passes=(Pass("v", "home", "访客甲", ago(days=2), id_number=None),)),
    c("second-visit-no-exit", True, "came, left, came again 30 hours ago and no exit since",
      Passage("pass:v", "in", ago(hours=46)), Passage("pass:v", "out", ago(hours=44)), v(30)),
    c("registered-by-guard", True, "the guard registered the entry on the pass 28 hours ago; no exit",
      Passage("pass:v", "in", ago(hours=28), method="manual")),
    c("another-visitor-left", True, "another visitor's pass shows an exit; this one does not", v(30),
      Passage("pass:w", "in", ago(hours=30)), Passage("pass:w", "out", ago(hours=28)),
      passes=(Pass("v", "home", "访客甲", ago(days=2)), Pass("w", "home", "访客乙", ago(days=2), id_number="other-person"))),
    c("same-name-other-person-came", True, "someone with the same name but another ID number came later: not the same person",
      v(30), Passage("pass:w", "in", ago(hours=5)),
      passes=(Pass("v", "home", "访客甲", ago(days=2)), Pass("w", "home", "访客甲", ago(hours=6), id_number="namesake"))),
    c("six-days", True, "came in 6 days ago, nothing since", v(144), passes=(Pass("v", "home", "访客甲", ago(days=6, hours=1)),)),
    c("head-counts-at-exit", True, "the gate counted people leaving, naming nobody; the pass shows no exit", v(30),
      *(Passage(None, "out", ago(hours=h), method="count") for h in (29, 20, 10))),
    c("late-night-arrival", True, "came in at 23:30 local two nights ago (15:30 UTC), no exit", Passage("pass:v", "in", T("11-18 23:30"))),
    # --- must not fire ---
    c("left-next-morning", False, "came in 30 hours ago, left 26 hours ago", v(30), Passage("pass:v", "out", ago(hours=26))),
    c("in-twenty-hours-ago", False, "came in 20 hours ago: not 24 hours yet", v(20)),
    c("exit-registered-by-guard", False, "the guard registered the exit with the pass (manual)", v(30),
      Passage("pass:v", "out", ago(hours=27), method="manual")),
    c("entry-refused", False, "the pass was refused at the gate: the visitor never came in",
      Passage("pass:v", "in", ago(hours=30), result="deny")),
    c("came-back-on-a-new-pass", False, "same visitor (same ID number) came in on a new pass 5 hours ago: she had left",
      v(30), Passage("pass:w", "in", ago(hours=5)),
      passes=(Pass("v", "home", "访客甲", ago(days=2)), Pass("w", "home", "访客甲", ago(hours=6)))),
    c("two-visits-both-left", False, "two visits, each with its exit", Passage("pass:v", "in", ago(hours=50)),
      Passage("pass:v", "out", ago(hours=45)), Passage("pass:v", "in", ago(hours=35)), Passage("pass:v", "out", ago(hours=28))),
    c("never-used", False, "the pass was issued but never used"),
    c("twenty-three-and-a-half-hours", False, "came in 23.5 hours ago", v(23.5)),
    c("left-an-hour-ago", False, "came in 30 hours ago and left an hour ago", v(30), Passage("pass:v", "out", ago(hours=1))),
    c("left-just-after-a-day", False, "left 24 hours 5 minutes after coming in: the exit is recorded", v(30),
      Passage("pass:v", "out", ago(hours=5, minutes=55))),
]
