"""Gate events with a real daily rhythm, generated per day as column arrays.

Commuters leave 7–9 and return 17–20 on weekdays, students a little earlier, elderly people go out
mid-morning for an hour or three, others once during the day; visitors enter on passes, couriers are
registered by the guard, unknown faces are denied, and people counters at key sites follow the
site's own hourly curve. Times are local (Asia/Shanghai, UTC+8) and stored in UTC.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from demo.synthetic.population import ROLE_COMMUTER, ROLE_ELDERLY, ROLE_STUDENT

UTC_OFFSET_H = 8
MS_H = 3_600_000
COLUMNS = ["ts_ms", "gate_id", "compound_id", "key_site_id", "direction", "method", "result", "person_id",
           "pass_id", "stranger_id", "score", "reason"]

# Hourly shape of key-site counters by category (share of the day's flow, 24 values).
_SITE_PROFILE = {
    "school": [0, 0, 0, 0, 0, 0, 1, 14, 10, 2, 1, 2, 4, 3, 2, 3, 12, 10, 3, 1, 0, 0, 0, 0],
    "hospital": [1, 1, 1, 1, 1, 1, 2, 5, 9, 10, 9, 7, 5, 6, 8, 8, 7, 5, 4, 3, 2, 2, 1, 1],
    "station": [1, 0, 0, 0, 0, 1, 4, 9, 10, 6, 5, 5, 5, 5, 5, 5, 6, 9, 9, 6, 4, 3, 2, 1],
    "market": [0, 0, 0, 0, 0, 2, 8, 12, 11, 9, 8, 6, 4, 3, 3, 4, 6, 7, 5, 3, 1, 0, 0, 0],
    "mall": [0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 8, 7, 7, 7, 8, 9, 10, 10, 8, 4, 1, 0],
    "park": [0, 0, 0, 0, 0, 3, 9, 10, 8, 6, 5, 4, 3, 3, 4, 5, 6, 8, 9, 8, 5, 2, 0, 0],
    "government": [0, 0, 0, 0, 0, 0, 0, 1, 10, 12, 12, 10, 4, 5, 11, 12, 10, 6, 1, 0, 0, 0, 0, 0],
}


@dataclass(frozen=True)
class Residents:
    person_id: np.ndarray
    compound: np.ndarray      # compound index (0-based)
    role: np.ndarray
    min_daily_p: np.ndarray   # a floor on the chance of going out each day (supervision duties, care routines)


@dataclass(frozen=True)
class Gates:
    by_compound: list[np.ndarray]  # gate ids per compound index
    site_gate: list[int]           # gate id per key-site index
    site_category: list[str]


def local_midnight_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000) - UTC_OFFSET_H * MS_H


def _hours_to_ms(day: dt.date, hours: np.ndarray) -> np.ndarray:
    return local_midnight_ms(day) + (np.clip(hours, 5.5, 22.75) * MS_H).astype(np.int64)


def _pick_gate(rng: np.random.Generator, gates: Gates, compounds: np.ndarray) -> np.ndarray:
    counts = np.array([len(g) for g in gates.by_compound])
    offsets = (rng.random(len(compounds)) * counts[compounds]).astype(int)
    flat = np.concatenate(gates.by_compound)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return flat[starts[compounds] + offsets]


def _frame(n: int, **cols) -> pd.DataFrame:  # noqa: ANN003
    base = {"key_site_id": np.zeros(n, dtype=np.int64), "person_id": np.zeros(n, dtype=np.int64),
            "pass_id": np.full(n, None, dtype=object), "stranger_id": np.full(n, None, dtype=object),
            "score": np.full(n, np.nan), "reason": np.full(n, None, dtype=object)}
    base.update(cols)
    return pd.DataFrame(base)[COLUMNS]


def resident_day(rng: np.random.Generator, day: dt.date, r: Residents, gates: Gates) -> pd.DataFrame:
    weekend = day.weekday() >= 5
    n = len(r.person_id)
    p = np.select(
        [r.role == ROLE_COMMUTER, r.role == ROLE_STUDENT, r.role == ROLE_ELDERLY],
        [0.6 if weekend else 0.93, 0.5 if weekend else 0.97, 0.96], 0.8,
    )
    p = np.maximum(p, r.min_daily_p)
    going = rng.random(n) < p
    idx = np.flatnonzero(going)
    role = r.role[idx]
    out_h = np.select(
        [(role == ROLE_COMMUTER) & (not weekend), (role == ROLE_STUDENT) & (not weekend), role == ROLE_ELDERLY],
        [rng.normal(8.0, 0.5, len(idx)), rng.normal(7.25, 0.25, len(idx)), rng.normal(8.5, 1.5, len(idx))],
        rng.uniform(9.5, 17.0, len(idx)),
    )
    back_h = np.select(
        [(role == ROLE_COMMUTER) & (not weekend), (role == ROLE_STUDENT) & (not weekend), role == ROLE_ELDERLY],
        [rng.normal(18.3, 0.9, len(idx)), rng.normal(17.0, 0.7, len(idx)), out_h + rng.uniform(1.0, 3.0, len(idx))],
        out_h + rng.uniform(1.0, 4.5, len(idx)),
    )
    back_h = np.maximum(back_h, out_h + 0.25)
    frames = []
    for direction, hours in (("out", out_h), ("in", back_h)):
        m = len(idx)
        method = rng.choice(["face", "resident_qr", "card"], size=m, p=[0.65, 0.2, 0.15] if direction == "in" else [0.7, 0.15, 0.15])
        score = np.where(method == "face", rng.uniform(0.48, 0.88, m).round(4), np.nan)
        frames.append(_frame(
            m, ts_ms=_hours_to_ms(day, hours) + rng.integers(0, 60_000, m), gate_id=_pick_gate(rng, gates, r.compound[idx]),
            compound_id=r.compound[idx] + 1, direction=np.full(m, direction), method=method, result=np.full(m, "open"),
            person_id=r.person_id[idx], score=score,
        ))
    # About 1% of face entries are first refused (a poor capture), then opened on the next try.
    entries = frames[1]
    retry = entries[(entries["method"] == "face").to_numpy() & (rng.random(len(entries)) < 0.01)].copy()
    retry["ts_ms"] -= rng.integers(8_000, 30_000, len(retry))
    retry["result"], retry["reason"] = "deny", "low_quality"
    retry["score"] = rng.uniform(0.2, 0.34, len(retry)).round(4)
    frames.append(retry)
    return pd.concat(frames, ignore_index=True)


def visitors_day(rng: np.random.Generator, day: dt.date, passes: pd.DataFrame, gates: Gates) -> pd.DataFrame:
    """Entries and exits of the day's visitor passes (each visitor leaves within the pass's validity)."""
    if passes.empty:
        return _frame(0, ts_ms=[], gate_id=[], compound_id=[], direction=[], method=[], result=[])
    m = len(passes)
    t_in = passes["valid_from_ms"].to_numpy() + rng.integers(60_000, 3_600_000, m)
    t_out = t_in + rng.integers(1_800_000, 4 * MS_H, m)
    compounds = passes["compound"].to_numpy()
    frames = [
        _frame(m, ts_ms=t, gate_id=_pick_gate(rng, gates, compounds), compound_id=compounds + 1, direction=np.full(m, d),
               method=np.full(m, "visitor_qr"), result=np.full(m, "open"), pass_id=passes["id"].to_numpy())
        for d, t in (("in", t_in), ("out", t_out))
    ]
    return pd.concat(frames, ignore_index=True)


def service_day(rng: np.random.Generator, day: dt.date, gates: Gates, new_uuid) -> pd.DataFrame:  # noqa: ANN001
    """Couriers registered by the guard, and one-off unknown faces that are refused."""
    frames = []
    for c, _ in enumerate(gates.by_compound):
        k = int(rng.poisson(15))
        t_in = _hours_to_ms(day, rng.uniform(9, 20.5, k))
        comp = np.full(k, c)
        for d, t in (("in", t_in), ("out", t_in + rng.integers(180_000, 900_000, k))):
            frames.append(_frame(k, ts_ms=t, gate_id=_pick_gate(rng, gates, comp), compound_id=comp + 1,
                                 direction=np.full(k, d), method=np.full(k, "manual"), result=np.full(k, "open")))
        s = int(rng.poisson(2))
        frames.append(_frame(
            s, ts_ms=_hours_to_ms(day, rng.uniform(8, 21, s)), gate_id=_pick_gate(rng, gates, np.full(s, c)),
            compound_id=np.full(s, c + 1), direction=np.full(s, "in"), method=np.full(s, "face"), result=np.full(s, "deny"),
            stranger_id=np.array([new_uuid() for _ in range(s)], dtype=object), score=rng.uniform(0.05, 0.3, s).round(4),
            reason=np.full(s, "unknown_face", dtype=object),
        ))
    return pd.concat(frames, ignore_index=True)


def counters_day(rng: np.random.Generator, day: dt.date, gates: Gates, daily_flow: int = 1600) -> pd.DataFrame:
    weekend = day.weekday() >= 5
    frames = []
    for site, (gate_id, category) in enumerate(zip(gates.site_gate, gates.site_category)):
        profile = np.array(_SITE_PROFILE.get(category, _SITE_PROFILE["market"]), dtype=float)
        factor = 0.3 if weekend and category in ("school", "government") else 1.0
        counts = rng.poisson(daily_flow * factor * profile / profile.sum())
        hours = np.repeat(np.arange(24), counts) + rng.random(int(counts.sum()))
        k = len(hours)
        frames.append(_frame(
            k, ts_ms=local_midnight_ms(day) + (hours * MS_H).astype(np.int64), gate_id=np.full(k, gate_id),
            compound_id=np.zeros(k, dtype=np.int64), key_site_id=np.full(k, site + 1),
            direction=np.where(rng.random(k) < 0.5, "in", "out"), method=np.full(k, "count"), result=np.full(k, "open"),
        ))
    return pd.concat(frames, ignore_index=True)


def uuid7_hex(rng: np.random.Generator, ts_ms: np.ndarray) -> np.ndarray:
    """UUIDv7 ids as 32 hex digits (PostgreSQL reads them without dashes), vectorised and seeded."""
    n = len(ts_ms)
    rand = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).astype(np.uint64)
    hi = (ts_ms.astype(np.uint64) << np.uint64(16)) | np.uint64(0x7000) | (rand[:, 0] & np.uint64(0x0FFF))
    lo = (np.uint64(0b10) << np.uint64(62)) | (rand[:, 1] & np.uint64((1 << 62) - 1))
    raw = np.empty((n, 2), dtype=">u8")
    raw[:, 0], raw[:, 1] = hi, lo
    text = raw.tobytes().hex()
    return np.array([text[i:i + 32] for i in range(0, 32 * n, 32)], dtype=object)
