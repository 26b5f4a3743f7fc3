"""水电气: recent use against the dwelling's usual use — spike, drop, (near) zero while occupied;
occupied means its people are there (gate activity), not only registered; missing readings are not zero."""
from __future__ import annotations

from tests.scenarios.dsl import Case, Grant, Passage, Person, Utility, ago, daily, series

HOME = Person("住户", home="home")
PRESENT = daily("住户", 10, 1)
AWAY = (Passage("住户", "out", ago(days=6)),)


def c(name: str, fires: bool, why: str, *utilities: Utility, passages: tuple = PRESENT, **kw) -> Case:  # noqa: ANN003
    return Case("utility_anomaly", name, why, fires, ("dwelling", "home"), people=kw.pop("people", (HOME,)),
                utilities=utilities, passages=passages, **kw)


def elec(*recent: float, usual: float = 10.0, **kw) -> Utility:  # noqa: ANN003
    return Utility("home", "electricity", series(usual, recent=recent, **kw))


CASES = [
    # --- fires ---
    c("electricity-spike", True, "40+ kWh a day for 3 days against a usual 10", elec(40, 42, 45)),
    c("drop-while-there", True, "2 kWh a day against 10 while its people come and go daily", elec(2, 2, 1.5)),
    c("zero-while-there", True, "no electricity at all for 3 days while its people pass the gate daily", elec(0, 0, 0)),
    c("near-zero-while-inside", True, "almost nothing used; her last passage was coming in 4 days ago (she is inside)",
      elec(0.1, 0, 0.2), passages=(Passage("住户", "in", ago(days=4)),)),
    c("water-spike-while-away", True, "water ×5 while everyone went out 6 days ago: someone is using it",
      Utility("home", "water", series(0.4, recent=(2.0, 2.2, 2.1))), passages=AWAY),
    c("drop-presence-unknown", True, "use fell to a fifth; no gate sees its people, the alert says presence is unknown",
      elec(2, 2.5, 2), passages=()),
    c("gas-spike", True, "gas 3 m³ a day against 0.5", Utility("home", "gas", series(0.5, recent=(3, 3, 3)))),
    c("zero-tenant-present", True, "no use while the tenant on the owner's grant passes daily",
      elec(0, 0, 0), people=(Person("房东"), Person("租客")), grants=(Grant("home", "房东", "租客"),),
      passages=daily("租客", 10, 1)),
    c("spike-after-a-week-away", True, "40 a day against 10 on the days they lived there (a week away in the baseline)",
      Utility("home", "electricity", series(10, days=14) + (0.3,) * 7 + series(10, days=7) + (40, 40, 40))),
    c("drop-elderly-inside", True, "use fell to 2 while she is inside (last came in 4 days ago)", elec(2, 2, 2),
      passages=(Passage("住户", "in", ago(days=4)),)),
    c("zero-came-home-yesterday", True, "no use at all though he came in by card yesterday evening", elec(0, 0, 0),
      passages=(Passage("住户", "out", ago(days=5)), Passage("住户", "in", ago(hours=15), method="card"))),
    # --- must not fire ---
    c("weekly-rhythm", False, "ordinary variation: a weekend 15 % up", elec(11.5, 11.2, 10)),
    c("away-zero", False, "everyone went out 6 days ago and has not come back: an empty flat uses nothing", elec(0, 0, 0),
      passages=AWAY),
    c("away-drop", False, "everyone away for 6 days: a drop to the fridge's use is normal", elec(0.8, 0.8, 0.9), passages=AWAY),
    c("registered-only-zero", False, "registered residents, never seen at a gate: zero use there is read as an empty flat",
      elec(0, 0, 0), passages=()),
    c("back-from-three-weeks-away", False, "away three weeks (almost no use), back for 3 days at the usual 10",
      Utility("home", "electricity", series(10, days=7) + (0.3,) * 21 + (10, 10.5, 9.8))),
    c("missing-readings", False, "the meter was not read for two of the last three days: missing is not zero",
      Utility("home", "electricity", series(10, days=28) + (None, None, 0)), passages=PRESENT),
    c("winter-creep", False, "use rising slowly over weeks (heating): 16 against a usual drifting to 14",
      Utility("home", "electricity", tuple(round(10 + 4 * k / 28, 2) for k in range(28)) + (16, 16.5, 16))),
    c("double-not-two-and-a-half", False, "20 a day against 10: under 2.5×", elec(20, 21, 20)),
    c("vacant-flat", False, "a vacant flat that never uses anything", Utility("home", "electricity", (0.0,) * 31), passages=(),
      people=()),
    c("drop-to-forty-percent", False, "4 a day against 10: above the 0.3× drop line", elec(4, 4, 4)),
    c("tenant-moved-out", False, "the tenant's grant was revoked and he left 5 days ago: no use is normal", elec(0, 0, 0),
      people=(Person("房东"), Person("租客")), grants=(Grant("home", "房东", "租客", revoked=ago(days=5)),),
      passages=(Passage("租客", "out", ago(days=5)),)),
]
