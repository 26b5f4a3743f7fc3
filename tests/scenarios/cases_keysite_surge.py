"""重点场所: the last hour's flow at a key site against the same local hour of earlier weeks in which
its counters were really counting; no usable baseline (new counter, off, no data) → no surge."""
from __future__ import annotations

import datetime as dt

from tests.scenarios.dsl import AS_OF, Case, Flow, Outage, Passage, Person, Site, ago

W = dt.timedelta(weeks=1)


def weeks(site: str, usual: tuple[int | None, ...], now: int, *, other_hours: int = 40, gate: int = 0) -> tuple[Flow, ...]:
    """Each earlier week's flow in the hour to the same time (None: the counter sent nothing that day),
    with ``other_hours`` head counts elsewhere that day (the counter was on); then this hour's ``now``."""
    flows = []
    for k, n in enumerate(usual, start=1):
        if n is None:
            continue
        if n:
            flows.append(Flow(site, AS_OF - k * W, n, gate=gate))
        if other_hours:
            flows.append(Flow(site, AS_OF - k * W + dt.timedelta(hours=5), other_hours, gate=gate))
    if now:
        flows.append(Flow(site, AS_OF, now, gate=gate))
    return tuple(flows)


def c(name: str, fires: bool, why: str, flows: tuple[Flow, ...], *, site: Site = Site("医院"), **kw) -> Case:  # noqa: ANN003
    return Case("keysite_surge", name, why, fires, ("key_site", site.label), sites=(site, *kw.pop("sites", ())),
                flows=flows, **kw)


CASES = [
    # --- fires ---
    c("fifteen-times-usual", True, "300 in the last hour against 20 in that hour of the last three weeks", weeks("医院", (20, 20, 20), 300)),
    c("four-times-a-busy-hour", True, "400 against a usual 100: ≥ 3× and ≥ usual + 50", weeks("医院", (100, 100, 100), 400)),
    c("quiet-hour-flooded", True, "usually nobody in this hour (the counter worked: counts later those days); 60 now",
      weeks("医院", (0, 0, 0), 60)),
    c("two-counters-together", True, "two gates of one site: 150 + 150 now against 10 + 10 usually",
      weeks("医院", (10, 10, 10), 150) + weeks("医院", (10, 10, 10), 150, gate=1), site=Site("医院", gates=2)),
    c("one-week-off-two-usable", True, "one comparison week had a recorded outage; the other two say 20; 200 now",
      weeks("医院", (20, 20, 20), 200), outages=(Outage("医院", AS_OF - 2 * W - dt.timedelta(hours=3), AS_OF - 2 * W + dt.timedelta(hours=2)),)),
    c("counter-two-and-a-half-weeks-old", True, "the counter started 2.5 weeks ago: two usable weeks at 25; 250 now",
      weeks("医院", (25, 25, None), 250)),
    c("five-times-thirty", True, "150 against a usual 30", weeks("医院", (30, 30, 30), 150)),
    c("surge-in-the-last-half-hour", True, "200 in the last 30 minutes against 20 an hour usually",
      weeks("医院", (20, 20, 20), 0) + (Flow("医院", AS_OF, 200, minutes=30),)),
    c("just-at-the-bar", True, "61 against a usual 10 (bar: max(30, 60))", weeks("医院", (10, 12, 8), 61)),
    c("market-morning", True, "a market: 700 against a usual 200", weeks("市场", (200, 200, 200), 700), site=Site("市场", "market")),
    c("one-usable-week", True, "the counter sent nothing on two comparison days; the third says 20; 300 now",
      weeks("医院", (20, None, None), 300)),
    c("school-friday", True, "a school: 250 against a usual Friday 50", weeks("学校", (50, 50, 50), 250), site=Site("学校", "school")),
    # --- must not fire ---
    c("rush-hour", False, "320 in a rush hour that is usually 300: ordinary", weeks("医院", (300, 310, 290), 320)),
    c("new-counter", False, "the counter's first data is today: no baseline, no surge", weeks("医院", (None, None, None), 300)),
    c("off-all-comparison-weeks", False, "outages recorded over every comparison hour: no usable baseline",
      weeks("医院", (0, 0, 0), 300, other_hours=40),
      outages=tuple(Outage("医院", AS_OF - k * W - dt.timedelta(hours=2), AS_OF - k * W + dt.timedelta(hours=1)) for k in (1, 2, 3))),
    c("silent-on-every-comparison-day", False, "the counter counted a month ago but sent nothing on the three comparison days",
      weeks("医院", (None, None, None), 300) + (Flow("医院", AS_OF - dt.timedelta(days=26), 40),)),
    c("three-times-but-small", False, "60 against 20: 3× but not usual + 50", weeks("医院", (20, 20, 20), 60)),
    c("under-three-times", False, "290 against 100: under 3×", weeks("医院", (100, 100, 100), 290)),
    c("surge-two-hours-ago", False, "400 between 07:30 and 08:30; the last hour is as usual",
      weeks("医院", (20, 20, 20), 20) + (Flow("医院", ago(hours=1, minutes=30), 400),)),
    c("crowd-at-a-compound-not-the-site", False, "many people through a residential compound's gate; the site is as usual",
      weeks("医院", (20, 20, 20), 22), people=(Person("住户", home="home"),),
      passages=tuple(Passage("住户", "in" if k % 2 else "out", ago(minutes=k)) for k in range(1, 50))),
    c("counter-off-now", False, "no data in the last hour (the counter is off now): nothing to call a surge",
      weeks("医院", (20, 20, 20), 0)),
    c("last-weeks-surge-not-now", False, "last week had 400 in this hour; now 30", weeks("医院", (400, 20, 20), 30)),
    c("second-counter-opened-this-week", False,
      "a second gate's counter started this week: 30 + 120 now, but the earlier weeks counted one gate only",
      weeks("医院", (30, 30, 30), 30) + weeks("医院", (None, None, None), 120, gate=1), site=Site("医院", gates=2)),
    c("just-under-the-bar", False, "69 against a usual 20 (bar: max(60, 70))", weeks("医院", (20, 20, 20), 69)),
]
