"""Injected anomalies with ground truth (schema `truth`, which no rule reads; rules are scored against it).

Each injection changes the generated data the way the real-world case would show in it, as of the
end of the seeded period: an elderly person's exits stop, a supervised person moves at night and
into other compounds, a flat fills with tenants over its cap, a stranger keeps being refused at the
same gate, a floating resident's activity stops before their permit runs out, a meter spikes or
drops, a key site floods with people in the last hour, a visitor stays past a day.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from demo.synthetic.events import MS_H, _frame, _pick_gate, Gates
from demo.synthetic.population import cap_for

DAY_MS = 24 * MS_H


@dataclass
class Truth:
    rows: list[tuple[str, str, int, dt.datetime, dict]] = field(default_factory=list)

    def add(self, kind: str, subject_kind: str, subject_id: int, starts_ms: int, **detail: object) -> None:
        starts = dt.datetime.fromtimestamp(starts_ms / 1000, tz=dt.timezone.utc)
        self.rows.append((kind, subject_kind, int(subject_id), starts, detail))


@dataclass
class Counts:
    elderly: int
    correction: int
    group_rentals: int
    strangers: int
    departures: int
    utility: int
    overstays: int


COUNTS = {
    "tiny": Counts(1, 1, 1, 1, 1, 1, 1),
    "street": Counts(12, 6, 12, 15, 20, 20, 6),
    "city": Counts(40, 20, 40, 50, 60, 60, 20),
}


def _drop_person_events(events: pd.DataFrame, person_ids: np.ndarray, since_ms: int) -> pd.DataFrame:
    gone = events["person_id"].isin(person_ids).to_numpy() & (events["ts_ms"].to_numpy() >= since_ms)
    return events[~gone]


def elderly_stop_going_out(rng, events, people, end_ms, n, truth):  # noqa: ANN001, ANN201
    tagged = people[people["tags"].map(lambda t: "elderly_alone" in t)]["id"].to_numpy()
    chosen = rng.choice(tagged, size=min(n, len(tagged)), replace=False)
    since = end_ms - 5 * DAY_MS
    for pid in chosen:
        truth.add("elderly_inactive", "person", pid, since, days=5)
    return _drop_person_events(events, chosen, since)


def correction_abnormal(rng, events, people, residents_compound, gates: Gates, end_ms, n, truth):  # noqa: ANN001, ANN201
    tagged = people[people["tags"].map(lambda t: "community_correction" in t)]["id"].to_numpy()
    chosen = rng.choice(tagged, size=min(n, len(tagged)), replace=False)
    frames = [events]
    for pid in chosen:
        home = residents_compound[pid]
        nights = rng.choice(np.arange(1, 7), size=3, replace=False)
        ts = np.array([end_ms - int(k) * DAY_MS + int(0.5 * MS_H) for k in nights])  # 00:30 local
        comp = np.full(len(ts), home)
        for direction, offset in (("out", 0), ("in", MS_H)):
            frames.append(_frame(len(ts), ts_ms=ts + offset, gate_id=_pick_gate(rng, gates, comp), compound_id=comp + 1,
                                 direction=np.full(len(ts), direction), method=np.full(len(ts), "card"),
                                 result=np.full(len(ts), "open"), person_id=np.full(len(ts), pid)))
        other = int((home + 1 + rng.integers(0, len(gates.by_compound) - 1)) % len(gates.by_compound)) if len(gates.by_compound) > 1 else home
        t_other = np.array([end_ms - 2 * DAY_MS + 14 * MS_H])
        frames.append(_frame(1, ts_ms=t_other, gate_id=_pick_gate(rng, gates, np.array([other])), compound_id=np.array([other + 1]),
                             direction=np.array(["in"]), method=np.array(["manual"]), result=np.array(["open"]),
                             person_id=np.array([pid])))
        truth.add("correction_movement", "person", pid, end_ms - 7 * DAY_MS, night_events=6, other_compound=other + 1)
    return pd.concat(frames, ignore_index=True)


def group_rentals(rng, pop, area_per_person, end_ms, n, truth, add_tenant: Callable[[int], int]):  # noqa: ANN001, ANN201
    """Fill rented flats with tenants over the cap; returns the new tenants' (person id, dwelling id)."""
    d = pop.dwellings
    rented = d[(d["use"] == "rented") & (d["area_m2"] < 90)]
    chosen = rented.sample(n=min(n, len(rented)), random_state=int(rng.integers(0, 2**31)))
    landlord = dict(zip(pop.owners["dwelling_id"], pop.owners["person_id"]))
    added = []
    for row in chosen.itertuples():
        cap = int(cap_for(row.area_m2, area_per_person))
        current = int((pop.grants["dwelling_id"] == row.id).sum())
        extra = cap - current + int(rng.integers(2, 5))
        for _ in range(extra):
            pid = add_tenant(row.id)
            added.append((pid, row.id, landlord[row.id]))
        truth.add("group_rental", "dwelling", row.id, end_ms - 30 * DAY_MS, cap=cap, occupants=current + extra)
    return added


def unregistered_strangers(rng, events, gates: Gates, end_ms, n, truth, new_uuid):  # noqa: ANN001, ANN201
    frames = [events]
    for _ in range(n):
        stranger = new_uuid()
        compound = int(rng.integers(0, len(gates.by_compound)))
        days = rng.choice(np.arange(1, 11), size=5, replace=False)
        ts = np.array([end_ms - int(k) * DAY_MS + int(rng.uniform(18.5, 21.5) * MS_H) for k in days])
        m = len(ts)
        frames.append(_frame(m, ts_ms=ts, gate_id=_pick_gate(rng, gates, np.full(m, compound)), compound_id=np.full(m, compound + 1),
                             direction=np.full(m, "in"), method=np.full(m, "face"), result=np.full(m, "deny"),
                             stranger_id=np.full(m, stranger, dtype=object), score=rng.uniform(0.05, 0.3, m).round(4),
                             reason=np.full(m, "unknown_face", dtype=object)))
        truth.add("arrival_registration", "stranger", int(uuid.UUID(stranger).int >> 65), int(ts.min()),
                  stranger_id=stranger, compound_id=compound + 1, sightings=m)
    return pd.concat(frames, ignore_index=True)


def floating_left(rng, events, people, end_ms, anchor: dt.date, n, truth):  # noqa: ANN001, ANN201
    candidates = people[(people["kind"] == "floating") & people["home"].notna() & people["tags"].map(lambda t: not t)]
    chosen = candidates.sample(n=min(n, len(candidates)), random_state=int(rng.integers(0, 2**31)))["id"].to_numpy()
    since = end_ms - 10 * DAY_MS
    for pid in chosen:
        expiry = np.datetime64(anchor) + np.timedelta64(int(rng.integers(20, 80)), "D")
        people.loc[people["id"] == pid, "expiry"] = expiry
        truth.add("departure", "person", pid, since, expiry=str(expiry))
    return _drop_person_events(events, chosen, since)


def utility_shocks(rng, utilities, occupied_ids, anchor: dt.date, n, truth, end_ms):  # noqa: ANN001, ANN201
    """Spikes (×4) and drops (×0.1) in the last 3 days of electricity for occupied dwellings.

    ``utilities`` is a UtilityReadings (one dwelling × day array per kind): changed in place and returned.
    """
    chosen = rng.choice(occupied_ids, size=min(2 * n, len(occupied_ids)), replace=False)
    last3 = np.flatnonzero(utilities.days >= np.datetime64(anchor - dt.timedelta(days=3)))
    row_of = {int(did): i for i, did in enumerate(utilities.dwelling_id)}
    elec = utilities.values["electricity"]
    for k, did in enumerate(chosen):
        kind, factor = ("spike", 4.0) if k < n else ("drop", 0.1)
        row = row_of[int(did)]
        elec[row, last3] = (elec[row, last3] * factor).round(2)
        truth.add("utility_anomaly", "dwelling", did, end_ms - 3 * DAY_MS, anomaly=kind, utility="electricity")
    return utilities


def keysite_surge(rng, events, gates: Gates, end_ms, truth):  # noqa: ANN001, ANN201
    site = int(rng.integers(0, len(gates.site_gate)))
    k = 600
    ts = end_ms - (rng.random(k) * 0.95 * MS_H).astype(np.int64) - 60_000
    surge = _frame(k, ts_ms=ts, gate_id=np.full(k, gates.site_gate[site]), compound_id=np.zeros(k, dtype=np.int64),
                   key_site_id=np.full(k, site + 1), direction=np.where(rng.random(k) < 0.7, "in", "out"),
                   method=np.full(k, "count"), result=np.full(k, "open"))
    truth.add("keysite_surge", "key_site", site + 1, end_ms - MS_H, extra_people=k)
    return pd.concat([events, surge], ignore_index=True)


def visitor_overstays(rng, events, passes: pd.DataFrame, end_ms, n, truth):  # noqa: ANN001, ANN201
    """Visitors who entered on a pass more than a day before the end and never left (their exit removed)."""
    entries = events[(events["method"] == "visitor_qr") & (events["direction"] == "in")]
    window = entries[(entries["ts_ms"] < end_ms - 25 * MS_H) & (entries["ts_ms"] > end_ms - 72 * MS_H)]
    if window.empty:
        return events
    chosen = rng.choice(window["pass_id"].unique(), size=min(n, window["pass_id"].nunique()), replace=False)
    dwelling = dict(zip(passes["id"], passes["dwelling_id"]))
    for pass_id in chosen:
        entered = int(window[window["pass_id"] == pass_id]["ts_ms"].min())
        truth.add("visitor_overstay", "dwelling", dwelling[pass_id], entered, pass_id=pass_id)
    leaving = events["pass_id"].isin(chosen).to_numpy() & (events["direction"] == "out").to_numpy()
    return events[~leaving]
