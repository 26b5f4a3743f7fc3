"""Dwellings, households and people of the synthetic street, generated as column arrays (fast, seeded).

Realism that the rules depend on: household size never exceeds the dwelling's area cap (only the
injected group rentals do); every resident has a daily routine role; supervision tags carry a legal
basis with an expiry; floating residents carry a temporary-residence expiry.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from demo.synthetic import names as N
from demo.synthetic.layout import Layout, Preset

HOME_REGION = "320106"
OTHER_REGIONS = ["340102", "410105", "320830", "341202", "321302", "420106", "510107", "360102"]
ROLE_COMMUTER, ROLE_STUDENT, ROLE_ELDERLY, ROLE_OTHER = 0, 1, 2, 3


@dataclass
class Population:
    dwellings: pd.DataFrame      # id, code, building_id, unit, floor, room, area_m2, rooms, use, compound
    people: pd.DataFrame         # id, pid, name, sex, birth, kind, expiry, home, role, id_number, tags
    households: pd.DataFrame     # id, code, dwelling_id, head
    members: pd.DataFrame        # household_id, person_id, relation
    owners: pd.DataFrame         # dwelling_id, person_id, since
    grants: pd.DataFrame         # dwelling_id, owner, grantee, kind, valid_from, valid_to


def cap_for(area: np.ndarray | float, area_per_person: float) -> np.ndarray:
    return np.maximum(1, np.floor(np.asarray(area) / area_per_person)).astype(int)


def _floors(rng: np.random.Generator, preset: Preset, n: int) -> np.ndarray:
    lo, hi = preset.floors
    walkups = rng.integers(lo, min(hi, 11) + 1, size=n)
    towers = rng.integers(min(hi, 12), hi + 1, size=n)
    return np.where(rng.random(n) < 0.6, walkups, towers)


def buildings_frame(layout: Layout, preset: Preset, rng: np.random.Generator) -> pd.DataFrame:
    n = len(layout.buildings)
    floors = _floors(rng, preset, n)
    units = rng.integers(preset.units[0], preset.units[1] + 1, size=n)
    flats = rng.integers(preset.flats_per_unit_floor[0], preset.flats_per_unit_floor[1] + 1, size=n)
    compound = np.array([c for c, _, _ in layout.buildings])
    grid = np.array([g for _, g, _ in layout.buildings])
    number = np.zeros(n, dtype=int)
    for c in np.unique(compound):  # 1幢, 2幢 … within each compound
        idx = np.flatnonzero(compound == c)
        number[idx] = np.arange(1, len(idx) + 1)
    return pd.DataFrame({
        "id": np.arange(1, n + 1), "compound": compound, "grid": grid, "number": number,
        "floors": floors, "units": units, "flats": flats,
    })


def dwellings_frame(buildings: pd.DataFrame, codes: list[str], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for b, code in zip(buildings.itertuples(), codes):
        for unit in range(1, b.units + 1):
            for floor in range(1, b.floors + 1):
                for flat in range(1, b.flats + 1):
                    rows.append((b.id, b.compound, unit, floor, f"{floor}{flat:02d}", f"{code}-{unit}-{floor:02d}{flat:02d}"))
    d = pd.DataFrame(rows, columns=["building_id", "compound", "unit", "floor", "room", "code"])
    n = len(d)
    d.insert(0, "id", np.arange(1, n + 1))
    area = np.clip(rng.lognormal(math.log(82), 0.32, size=n), 38, 175).round(1)
    d["area_m2"] = area
    d["rooms"] = np.select([area < 50, area < 80, area < 120], [1, 2, 3], 4)
    u = rng.random(n)
    d["use"] = np.select([u < 0.08, u < 0.33], ["vacant", "rented"], "residential")
    return d


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    """An urban Chinese age pyramid, roughly: few children, many 30–60, a large 60+ cohort."""
    bands = np.array([0, 7, 19, 23, 31, 46, 61, 71, 81, 95])
    weights = np.array([0.06, 0.09, 0.05, 0.12, 0.22, 0.22, 0.13, 0.08, 0.03])
    band = rng.choice(len(weights), size=n, p=weights / weights.sum())
    return rng.integers(bands[band], bands[band + 1])


def build_population(
    dwellings: pd.DataFrame, rng: np.random.Generator, anchor: dt.date, area_per_person: float
) -> Population:
    occupied = dwellings[dwellings["use"] != "vacant"]
    caps = cap_for(occupied["area_m2"].to_numpy(), area_per_person)
    sizes = rng.choice([1, 2, 3, 4, 5], size=len(occupied), p=[0.2, 0.3, 0.28, 0.14, 0.08])
    sizes = np.minimum(sizes, caps)
    rented = (occupied["use"] == "rented").to_numpy()

    person_rows: list[tuple] = []
    households, members, owners, grants = [], [], [], []
    next_id = 1
    anchor64 = np.datetime64(anchor)

    def add_person(age: int, home: int | None, kind: str, role_hint: str) -> int:
        nonlocal next_id
        person_rows.append((next_id, age, home, kind, role_hint))
        next_id += 1
        return next_id - 1

    for i, (dwelling_id, size, is_rented) in enumerate(zip(occupied["id"].to_numpy(), sizes, rented)):
        hh_id = len(households) + 1
        if is_rented:
            landlord = add_person(int(rng.integers(35, 75)), None, "registered", "landlord")
            owners.append((dwelling_id, landlord, int(rng.integers(1995, 2022))))
            kind = "floating" if rng.random() < 0.8 else "resident"
            head = add_person(int(rng.integers(20, 50)), dwelling_id, kind, "tenant")
            ids = [head] + [add_person(int(rng.integers(18, 45)), dwelling_id, kind, "tenant") for _ in range(size - 1)]
            since = anchor64 - np.timedelta64(int(rng.integers(20, 700)), "D")
            for g in ids:
                grants.append((dwelling_id, landlord, g, "tenant", since))
            relations = ["本人"] + ["合租"] * (size - 1)
        else:
            elderly_single = size == 1 and rng.random() < 0.35
            head_age = int(rng.integers(65, 92)) if elderly_single else int(rng.integers(28, 80))
            kind = "registered" if rng.random() < 0.75 else "resident"
            head = add_person(head_age, dwelling_id, kind, "alone" if size == 1 else "head")
            ids = [head]
            relations = ["本人"]
            for m in range(size - 1):
                if m == 0 and rng.random() < 0.85:
                    age, rel = max(20, head_age + int(rng.integers(-5, 4))), "配偶"
                elif head_age > 55 and rng.random() < 0.3:
                    age, rel = int(rng.integers(20, 40)), "子女"
                else:
                    age, rel = max(0, head_age - int(rng.integers(22, 38))), "子女"
                ids.append(add_person(age, dwelling_id, kind, "member"))
                relations.append(rel)
            owners.append((dwelling_id, head, int(rng.integers(1990, 2024))))
            for g, rel in zip(ids[1:], relations[1:]):
                if rel == "子女" and rng.random() < 0.3:
                    grants.append((dwelling_id, head, g, "family", anchor64 - np.timedelta64(int(rng.integers(30, 900)), "D")))
        households.append((hh_id, dwelling_id, ids[0]))
        members.extend((hh_id, pid, rel) for pid, rel in zip(ids, relations))

    people = pd.DataFrame(person_rows, columns=["id", "age", "home", "kind", "hint"])
    n = len(people)
    people["home"] = people["home"].astype("Int64")
    ages = people["age"].to_numpy()
    # A small share of overseas residents among tenants.
    overseas = (people["hint"] == "tenant").to_numpy() & (rng.random(n) < 0.03)
    people.loc[overseas, "kind"] = "overseas"
    days_into_year = rng.integers(0, 365, size=n)
    births = (anchor64 - (ages * 365.25).astype("timedelta64[D]") - days_into_year.astype("timedelta64[D]")).astype("datetime64[D]")
    people["birth"] = births
    male = rng.random(n) < 0.5
    people["sex"] = np.where(male, "M", "F")
    non_local = people["kind"].isin(["floating", "overseas"]).to_numpy()
    expiry = anchor64 + rng.integers(20, 720, size=n).astype("timedelta64[D]")
    people["expiry"] = pd.Series(np.where(non_local, expiry, np.datetime64("NaT")), dtype="datetime64[s]")
    region = np.where(non_local, np.array(OTHER_REGIONS)[rng.integers(0, len(OTHER_REGIONS), size=n)], HOME_REGION)
    seq = people.assign(region=region).groupby(["region", "birth"]).cumcount().to_numpy() + 1
    people["id_number"] = [N.id_number(r, b, int(s), bool(m)) for r, b, s, m in zip(region, births.astype(object), seq, male)]
    people["name"] = N.names(rng, n)
    people["pid"] = [str(_uuid4(rng)) for _ in range(n)]
    # Routine roles: who leaves when.
    employed = (ages >= 22) & (ages < 60) & (rng.random(n) < 0.72)
    people["role"] = np.select(
        [(ages >= 6) & (ages <= 18), employed, ages >= 65], [ROLE_STUDENT, ROLE_COMMUTER, ROLE_ELDERLY], ROLE_OTHER
    )
    people["tags"] = [[] for _ in range(n)]
    resident = people["home"].notna().to_numpy()
    for idx in np.flatnonzero(resident & (people["hint"] == "alone").to_numpy() & (ages >= 65)):
        people.at[idx, "tags"].append("elderly_alone")
    for idx in np.flatnonzero(resident & (rng.random(n) < 0.015)):
        people.at[idx, "tags"].append("disabled")
    adults = np.flatnonzero(resident & (ages >= 18) & (ages < 60))
    n_corr = max(1, round(0.0005 * n))
    for idx in rng.choice(adults, size=min(n_corr, len(adults)), replace=False):
        people.at[idx, "tags"].append("community_correction")
    for idx in np.flatnonzero(resident & (people["role"] == ROLE_STUDENT).to_numpy()):
        people.at[idx, "tags"].append("student")

    return Population(
        dwellings=dwellings,
        people=people,
        households=pd.DataFrame(households, columns=["id", "dwelling_id", "head"]),
        members=pd.DataFrame(members, columns=["household_id", "person_id", "relation"]),
        owners=pd.DataFrame(owners, columns=["dwelling_id", "person_id", "since_year"]),
        grants=pd.DataFrame(grants, columns=["dwelling_id", "owner", "grantee", "kind", "valid_from"]),
    )


def _uuid4(rng: np.random.Generator):  # noqa: ANN202 - a uuid.UUID, deterministic from the rng
    import uuid

    value = int.from_bytes(rng.bytes(16), "big")
    value &= ~(0xF << 76)
    value |= 0x4 << 76
    value &= ~(0x3 << 62)
    value |= 0x2 << 62
    return uuid.UUID(int=value)
