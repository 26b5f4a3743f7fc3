"""The deterministic synthetic demo street (`gridpulse seed`).

Same preset, seed, anchor date and key file → the same data, checked by a digest over the seeded
tables. Everything is written in one transaction with COPY: a failure leaves nothing half-written.
"""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from shapely.geometry import MultiPolygon

from core.config import load_secrets, settings
from core.errors import InvalidInput
from core.passwords import hash_password, new_password
from blockdata.identity import hash_id_number, mask_id_number
from demo.synthetic import anomalies as A
from demo.synthetic import events as E
from demo.synthetic import names as N
from demo.synthetic.digest import table_digest
from demo.synthetic.layout import DISTRICTS, PRESETS, Layout, Preset, build_layout, city_preset, district_of_street
from demo.synthetic.population import Population, build_population, buildings_frame, dwellings_frame
from demo.synthetic.writer import UtilityReadings, copy_events, copy_frame, copy_utilities, events_csv_frame, reset_sequences

CITY, DISTRICT, STREET = "320100000000", "320106000000", "320106001000"
COMMUNITIES = [
    ("320106001004", "苏州路社区"), ("320106001005", "颐和路社区"), ("320106001008", "天津新村社区"),
    ("320106001010", "三步两桥社区"), ("320106001012", "山西路社区"), ("320106001003", "仙霞路社区"),
]
ROADS = ["宁海路", "颐和路", "北京西路", "山西路", "湖南路", "云南路", "西康路", "江苏路", "宁夏路", "天津路"]
COMPOUND_NAMES = ["颐和", "宁海", "西康", "山西", "天津", "北京", "江苏", "云南", "湖南", "琅琊", "珞珈", "赤壁", "牯岭", "普陀"]
COMPOUND_SUFFIX = ["新村", "花园", "小区", "苑", "公寓", "里"]
SITE_KINDS = [("school", "小学"), ("hospital", "医院"), ("station", "地铁站"), ("market", "菜场"), ("mall", "商场"),
              ("park", "公园"), ("school", "中学"), ("government", "政务服务中心"), ("market", "超市"), ("station", "公交枢纽")]
SEEDED_TABLES = (
    "region, account, grid, address, compound, key_site, gate, building, dwelling, person, person_tag, household, "
    "household_member, organisation, relation, ownership, access_grant, visitor_pass, face_template, "
    "gate_flow_minute, utility_reading, rental, self_declaration, alert, work_order, seed_info, "
    "truth.injected_anomaly, access_event, place_stat_day, stat_refresh"
)


def _ewkt(geom) -> str:  # noqa: ANN001
    return f"SRID=4326;{geom.wkt}"


def run_seed(*, preset: str = "street", seed: int = 20261122, days: int | None = None, if_empty: bool = False,
             reset: bool = False, anchor: dt.date | None = None, url: str | None = None,
             people: int | None = None) -> dict[str, Any]:
    """Seed ``preset`` (``people``: the city's size, about that many residents; only for ``city``)."""
    if preset not in PRESETS:
        raise InvalidInput(f"unknown preset {preset!r}: tiny, street or city")
    if people is not None and preset != "city":
        raise InvalidInput(f"--people sizes the city preset only (the {preset} preset has a fixed size)")
    spec = city_preset(people) if preset == "city" else PRESETS[preset]
    days = days if days is not None else spec.days
    if not 1 <= days <= 120:
        raise InvalidInput(f"--days must be 1–120, got {days}")
    anchor = anchor or dt.datetime.now(dt.timezone.utc).date()
    dsn = (url or settings().database_url).replace("postgresql+psycopg://", "postgresql://", 1)
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        existing = conn.execute("SELECT preset, seed, digest FROM seed_info ORDER BY id DESC LIMIT 1").fetchone()
        if existing and if_empty:
            return {"skipped": True, "reason": "the database already holds a street", "preset": existing[0],
                    "seed": existing[1], "digest": existing[2]}
        if existing and not reset:
            raise InvalidInput("the database already holds a street: use --reset to replace it or --if-empty to keep it")
        with conn.transaction():
            conn.execute(f"TRUNCATE {SEEDED_TABLES} RESTART IDENTITY CASCADE")
            report = _seed(conn, spec, seed, days, anchor)
    report["seconds_total"] = round(time.perf_counter() - started, 2)
    return report


def _seed(conn: psycopg.Connection, spec: Preset, seed: int, days: int, anchor: dt.date) -> dict[str, Any]:
    """The street in named steps, in the order the random generator is drawn from (same seed, same data)."""
    run = _SeedRun(conn, spec, seed, days, anchor)
    run.lay_out()
    run.write_regions_accounts_grids()
    run.write_compounds_sites_gates()
    run.plan_buildings_and_dwellings()
    run.build_population()
    run.add_group_rental_tenants()
    run.simulate_events()
    run.inject_anomalies()
    run.write_people()
    run.write_events_and_rollups()
    return run.finish()


class _SeedRun:
    """One seeding: each step reads what the earlier steps left on ``self`` and times itself (``lap``)."""

    def __init__(self, conn: psycopg.Connection, spec: Preset, seed: int, days: int, anchor: dt.date) -> None:
        self.preset, self.seed, self.days, self.anchor = spec.name, seed, days, anchor
        self.spec = spec
        self.rng = np.random.default_rng(seed)
        self.cfg = settings()
        self.cur = conn.cursor()
        self.counts: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        self.timings[name] = round(time.perf_counter() - self._t, 2)
        self._t = time.perf_counter()

    def new_uuid(self) -> str:
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))

    def lay_out(self) -> None:
        """Streets, communities, grids, compounds, sites and buildings as shapes (the city tiles more streets)."""
        spec, streets = self.spec, self.spec.streets
        self.layouts: list[Layout] = []
        cols = max(4, int(np.ceil(np.sqrt(streets))))  # 4 wide up to 16 streets, then about square
        for s_idx in range(streets):  # the city preset tiles more streets eastwards and northwards
            offset = ((s_idx % cols) * 0.028, (s_idx // cols) * 0.02)
            self.layouts.append(build_layout(spec, self.rng, (118.765 + offset[0], 32.064 + offset[1])))
        self.layout = _merge(self.layouts)
        # Districts of about ten streets each (the first is 鼓楼区, holding the demo street 宁海路街道).
        self.street_district = district_of_street(streets)
        self.street_codes = [STREET] + [f"{DISTRICTS[self.street_district[i]][0]}{100 + i:03d}000" for i in range(1, streets)]
        self.street_names = ["宁海路街道"] + [f"第{i + 1}街道" for i in range(1, streets)]
        self.community_codes: list[tuple[str, str]] = []
        for s_idx in range(streets):
            for c_idx in range(len(self.layouts[s_idx].communities)):
                if s_idx == 0:
                    self.community_codes.append(COMMUNITIES[c_idx % len(COMMUNITIES)])
                else:
                    self.community_codes.append((f"{self.street_codes[s_idx][:9]}{c_idx + 1:03d}", f"第{s_idx + 1}街道{c_idx + 1}社区"))
        self.lap("layout")

    def write_regions_accounts_grids(self) -> None:
        """Regions, the demo accounts (random passwords, printed once) and the grids with their workers."""
        layouts, layout, street_codes, community_codes = self.layouts, self.layout, self.street_codes, self.community_codes
        regions = [(CITY, None, "city", "南京市", None)]
        regions += [(f"{DISTRICTS[k][0]}000000", CITY, "district", DISTRICTS[k][1], None) for k in sorted(set(self.street_district))]
        for s_idx, code in enumerate(street_codes):
            regions.append((code, f"{code[:6]}000000", "street", self.street_names[s_idx], _ewkt(MultiPolygon([layouts[s_idx].street]))))
        per_street = len(layouts[0].communities)
        for c_idx, (code, name) in enumerate(community_codes):
            regions.append((code, street_codes[c_idx // per_street], "community", name, _ewkt(MultiPolygon([layout.communities[c_idx]]))))
        region_df = pd.DataFrame(regions, columns=["code", "parent_code", "level", "name", "geom"])
        self.counts["region"] = copy_frame(self.cur, "region", region_df)

        grid_rows, accounts = [], []
        accounts.append(("admin", "平台管理员", "admin", "{}"))
        accounts.append(("street", "宁海路街道指挥中心", "street", "{" + STREET + "}"))
        accounts.append(("police", "宁海路派出所", "police", "{" + STREET + "}"))
        for code, name in community_codes:
            accounts.append((f"sup-{code[-6:]}", f"{name}网格长", "supervisor", "{" + code + "}"))
        for g_idx, (c_idx, seq, poly) in enumerate(layout.grids):
            code = community_codes[c_idx][0] + f"{seq:03d}"
            accounts.append((f"worker-{code[-9:]}", f"{community_codes[c_idx][1]}第{seq}网格网格员", "worker", "{" + code + "}"))
            grid_rows.append((g_idx + 1, code, community_codes[c_idx][0], f"{community_codes[c_idx][1]}第{seq}网格", _ewkt(poly)))
        acc = pd.DataFrame(accounts, columns=["username", "display_name", "role", "jurisdiction"])
        acc.insert(0, "id", np.arange(1, len(acc) + 1))
        self.passwords = {u: new_password() for u in acc["username"]}  # random, printed once, never stored in clear
        acc["password_hash"] = [hash_password(self.passwords[u]) for u in acc["username"]] if self.preset != "city" else None
        self.counts["account"] = copy_frame(self.cur, "account", acc)
        account_id = dict(zip(acc["username"], acc["id"]))
        grid_df = pd.DataFrame(grid_rows, columns=["id", "code", "community_code", "name", "geom"])
        grid_df["worker_account_id"] = [account_id[f"worker-{c[-9:]}"] for c in grid_df["code"]]
        grid_df["supervisor_account_id"] = [account_id[f"sup-{c[6:12]}"] for c in grid_df["community_code"]]
        self.counts["grid"] = copy_frame(self.cur, "grid", grid_df)
        self.grid_df = grid_df
        self.lap("regions")

    def write_compounds_sites_gates(self) -> None:
        layout, grid_df = self.layout, self.grid_df
        comp_rows = []
        for k, (g_idx, poly) in enumerate(layout.compounds):
            name = COMPOUND_NAMES[k % len(COMPOUND_NAMES)] + COMPOUND_SUFFIX[(k // len(COMPOUND_NAMES) + k) % len(COMPOUND_SUFFIX)]
            if k >= len(COMPOUND_NAMES):
                name += f"{k // len(COMPOUND_NAMES) + 1}期"
            comp_rows.append((k + 1, f"C{k + 1:04d}", name, grid_df["community_code"][g_idx], _ewkt(poly)))
        self.compounds = pd.DataFrame(comp_rows, columns=["id", "code", "name", "community_code", "geom"])
        self.counts["compound"] = copy_frame(self.cur, "compound", self.compounds)
        site_rows = []
        for j, (g_idx, poly) in enumerate(layout.key_sites):
            category, label = SITE_KINDS[j % len(SITE_KINDS)]
            site_rows.append((j + 1, f"KS{j + 1:03d}", f"{ROADS[j % len(ROADS)]}{label}", category, g_idx + 1, 3000, _ewkt(poly)))
        sites = pd.DataFrame(site_rows, columns=["id", "code", "name", "category", "grid_id", "capacity", "geom"])
        self.counts["key_site"] = copy_frame(self.cur, "key_site", sites)
        gate_rows: list[tuple] = []
        by_compound: list[list[int]] = [[] for _ in layout.compounds]
        for k, point in layout.gates:
            gid = len(gate_rows) + 1
            by_compound[k].append(gid)
            gate_rows.append((gid, f"C{k + 1:04d}-G{len(by_compound[k])}", f"{len(by_compound[k])}号门", "pedestrian", k + 1, None, _ewkt(point)))
        site_gate = []
        for j, point in layout.key_site_gates:
            gid = len(gate_rows) + 1
            site_gate.append(gid)
            gate_rows.append((gid, f"KS{j + 1:03d}-C1", "客流计数", "counter", None, j + 1, _ewkt(point)))
        gates_df = pd.DataFrame(gate_rows, columns=["id", "code", "name", "kind", "compound_id", "key_site_id", "geom"])
        gates_df["compound_id"] = gates_df["compound_id"].astype("Int64")
        gates_df["key_site_id"] = gates_df["key_site_id"].astype("Int64")
        self.counts["gate"] = copy_frame(self.cur, "gate", gates_df)
        self.gates = E.Gates([np.array(g) for g in by_compound], site_gate,
                             [SITE_KINDS[j % len(SITE_KINDS)][0] for j in range(len(site_gate))])

    def plan_buildings_and_dwellings(self) -> None:
        """Buildings with their standard addresses, and each building's dwellings (written later)."""
        layout, compounds = self.layout, self.compounds
        b = buildings_frame(layout, self.spec, self.rng)
        b["code"] = [f"C{c + 1:04d}-B{n:02d}" for c, n in zip(b["compound"], b["number"])]
        self.road_of = road_of = {k: ROADS[k % len(ROADS)] for k in range(len(layout.compounds))}
        # Each compound's street, district name and street name (every street lays out spec.compounds compounds).
        self.place_of = place_of = {k: (self.street_codes[k // self.spec.compounds],
                                        DISTRICTS[self.street_district[k // self.spec.compounds]][1],
                                        self.street_names[k // self.spec.compounds]) for k in range(len(layout.compounds))}
        self.address_rows = []
        for row in b.itertuples():
            _, dist, street = place_of[row.compound]
            self.address_rows.append((f"A-{row.code}", "standard", f"南京市{dist}{road_of[row.compound]}{row.compound * 7 + 1}号"
                                      f"{compounds['name'][row.compound]}{row.number}幢", dist, street, road_of[row.compound],
                                      f"{row.compound * 7 + 1}号", compounds["name"][row.compound], f"{row.number}幢", None, None, None,
                                      layout.buildings[row.id - 1][2].representative_point()))
        self.buildings_out = pd.DataFrame({
            "id": b["id"], "code": b["code"], "name": [f"{n}幢" for n in b["number"]], "grid_id": b["grid"] + 1,
            "compound_id": b["compound"] + 1, "address_id": np.arange(1, len(b) + 1), "floors": b["floors"], "units": b["units"],
            "height_m": b["floors"] * 3.0, "geom": [_ewkt(p) for _, _, p in layout.buildings],
        })
        self.b = b
        self.d = dwellings_frame(b, list(b["code"]), self.rng)
        self.lap("places")

    def build_population(self) -> None:
        self.pop = build_population(self.d, self.rng, self.anchor, self.cfg.area_per_person_m2)
        self.lap("population")
        self.end_ms = E.local_midnight_ms(self.anchor)
        self.first_day = self.anchor - dt.timedelta(days=self.days)
        self.truth = A.Truth()
        self.counts_spec = A.COUNTS[self.preset]

    def add_group_rental_tenants(self) -> None:
        """The injected group rentals: extra floating tenants on an owner's grant (ground truth recorded)."""
        rng, pop, anchor = self.rng, self.pop, self.anchor
        extra_tenants: list[tuple] = []
        next_pid = [int(pop.people["id"].max()) + 1]

        def add_tenant(dwelling_id: int) -> int:
            pid = next_pid[0]
            next_pid[0] += 1
            extra_tenants.append((pid, dwelling_id))
            return pid

        added = A.group_rentals(rng, pop, self.cfg.area_per_person_m2, self.end_ms, self.counts_spec.group_rentals,
                                self.truth, add_tenant)
        if added:
            m = len(added)
            births = (np.datetime64(anchor) - (rng.integers(20, 40, m) * 365.25).astype("timedelta64[D]")).astype("datetime64[D]")
            extra = pd.DataFrame({
                "id": [a[0] for a in added], "age": 30, "home": pd.array([a[1] for a in added], dtype="Int64"), "kind": "floating",
                "hint": "tenant", "birth": births, "sex": np.where(rng.random(m) < 0.6, "M", "F"),
                "expiry": pd.Series(np.datetime64(anchor) + rng.integers(120, 400, m).astype("timedelta64[D]"), dtype="datetime64[s]"),
            })
            extra["id_number"] = _fresh_id_numbers(set(pop.people["id_number"]), "341202", births.astype(object), extra["sex"] == "M")
            extra["name"] = N.names(rng, m)
            extra["pid"] = [self.new_uuid() for _ in range(m)]
            extra["role"] = 0
            extra["tags"] = [[] for _ in range(m)]
            pop.people = pd.concat([pop.people, extra], ignore_index=True)
            pop.grants = pd.concat([pop.grants, pd.DataFrame({
                "dwelling_id": [a[1] for a in added], "owner": [a[2] for a in added], "grantee": [a[0] for a in added],
                "kind": "tenant", "valid_from": np.datetime64(anchor) - np.timedelta64(25, "D")})], ignore_index=True)
        self.people = pop.people

    def simulate_events(self) -> None:
        """Every day's passages: residents, visitors on passes, service workers, key-site counters."""
        rng, people, gates = self.rng, self.people, self.gates
        home_compound = self.d.set_index("id")["compound"]
        res = people[people["home"].notna()]
        self.residents = residents = E.Residents(
            person_id=res["id"].to_numpy(), compound=home_compound.loc[res["home"].astype(int)].to_numpy(),
            role=res["role"].to_numpy(),
            # Supervised persons report daily; elderly and disabled people living alone keep a daily outing
            # (a care visit, the market): so that a stop stands out, as it does to neighbours.
            min_daily_p=res["tags"].map(
                lambda t: 1.0 if "community_correction" in t else 0.985 if ("elderly_alone" in t or "disabled" in t) else 0.0
            ).to_numpy(),
        )
        self.passes = passes = _visitor_passes(rng, self.d, self.pop, self.first_day, self.days, self.new_uuid)
        frames = []
        for k in range(self.days):
            day = self.first_day + dt.timedelta(days=k)
            frames.append(E.resident_day(rng, day, residents, gates))
            frames.append(E.visitors_day(rng, day, passes[passes["day"] == day], gates))
            frames.append(E.service_day(rng, day, gates, self.new_uuid))
            frames.append(E.counters_day(rng, day, gates))
        events = pd.concat(frames, ignore_index=True)
        self.events = events[events["ts_ms"] < self.end_ms]
        self.lap("events")

    def inject_anomalies(self) -> None:
        """The anomalies the rules should find, each with its ground truth in schema ``truth``."""
        rng, people, gates, end_ms, truth, n = self.rng, self.people, self.gates, self.end_ms, self.truth, self.counts_spec
        residents = self.residents
        person_compound = dict(zip(residents.person_id, residents.compound))
        events = A.elderly_stop_going_out(rng, self.events, people, end_ms, n.elderly, truth)
        events = A.correction_abnormal(rng, events, people, person_compound, gates, end_ms, n.correction, truth)
        events = A.unregistered_strangers(rng, events, gates, end_ms, n.strangers, truth, self.new_uuid)
        events = A.floating_left(rng, events, people, end_ms, self.anchor, n.departures, truth)
        events = A.keysite_surge(rng, events, gates, end_ms, truth)
        events = A.visitor_overstays(rng, events, self.passes, end_ms, n.overstays, truth)
        events = events.sort_values("ts_ms", kind="stable").reset_index(drop=True)
        for col in ("ts_ms", "gate_id", "compound_id", "key_site_id", "person_id"):
            events[col] = events[col].astype(np.int64)
        self.events = events
        utilities = _utilities(rng, self.d, people, self.anchor)
        occupied = self.d[self.d["use"] != "vacant"]["id"].to_numpy()
        self.utilities = A.utility_shocks(rng, utilities, occupied, self.anchor, n.utility, truth, end_ms)
        self.lap("anomalies")

    def write_people(self) -> None:
        """Addresses, buildings, dwellings, people (ID numbers only hashed and masked) and what hangs off them."""
        cur, d, b, people = self.cur, self.d, self.b, self.people
        self.counts["address"] = _write_addresses(cur, self.address_rows, d, b, self.compounds, self.road_of, self.layout,
                                                  self.place_of)
        self.counts["building"] = copy_frame(cur, "building", self.buildings_out)
        d_out = d[["id", "code", "building_id", "unit", "floor", "room", "area_m2", "rooms", "use"]].copy()
        d_out["address_id"] = np.arange(len(b) + 1, len(b) + len(d) + 1)
        self.counts["dwelling"] = copy_frame(cur, "dwelling", d_out)
        key = load_secrets().id_hash_key
        person_out = pd.DataFrame({
            "id": people["id"], "pid": people["pid"],
            "id_hash": ["\\x" + hash_id_number(key, n).hex() for n in people["id_number"]],
            "id_masked": [mask_id_number(n) for n in people["id_number"]], "name": people["name"], "sex": people["sex"],
            "birth_date": people["birth"].dt.strftime("%Y-%m-%d"), "residence_kind": people["kind"],
            "temp_residence_expiry": pd.to_datetime(people["expiry"]).dt.strftime("%Y-%m-%d"),
            "home_dwelling_id": people["home"],
        })
        self.counts["person"] = copy_frame(cur, "person", person_out)
        self.counts.update(_write_person_links(cur, self.rng, self.pop, self.anchor, d))
        self.lap("write_people")
        self.counts["visitor_pass"] = copy_frame(cur, "visitor_pass", self.passes.drop(columns=["day", "compound", "valid_from_ms"]))
        self.counts["utility_reading"], self.utility_copy_seconds = copy_utilities(cur, self.utilities)
        self.lap("write_utilities")

    def write_events_and_rollups(self) -> None:
        cur, events = self.cur, self.events
        # Injected anomalies reach back up to 10 days whatever --days says: partitions start at the earliest event.
        earliest = (dt.datetime.fromtimestamp(int(events["ts_ms"].min()) / 1000, tz=dt.timezone.utc).date()
                    if len(events) else self.first_day)
        cur.execute(
            "SELECT gp_ensure_event_partitions(%s::date - 1, %s::date + %s)",
            (min(self.first_day, earliest), self.anchor, settings().event_partition_days_ahead),
        )
        event_frame = events_csv_frame(events, E.uuid7_hex(self.rng, events["ts_ms"].to_numpy()))
        event_rows, self.copy_seconds = copy_events(cur, event_frame)
        self.counts["access_event"] = event_rows
        self.lap("write_events")
        cur.execute(
            """INSERT INTO gate_flow_minute (gate_id, minute, entries, exits, denied)
               SELECT gate_id, date_trunc('minute', ts),
                      count(*) FILTER (WHERE result = 'open' AND direction = 'in'),
                      count(*) FILTER (WHERE result = 'open' AND direction = 'out'),
                      count(*) FILTER (WHERE result = 'deny')
               FROM access_event GROUP BY 1, 2"""
        )
        self.counts["gate_flow_minute"] = cur.rowcount
        self.lap("rollups")

    def finish(self) -> dict[str, Any]:
        """Ground truth, sequences, the digest over the seeded tables and the seed's report."""
        cur, counts = self.cur, self.counts
        truth_df = pd.DataFrame(self.truth.rows, columns=["kind", "subject_kind", "subject_id", "starts_at", "detail"])
        truth_df["detail"] = truth_df["detail"].map(lambda v: json.dumps(v, ensure_ascii=False, default=str))
        truth_df["starts_at"] = truth_df["starts_at"].map(lambda v: v.isoformat())
        counts["truth.injected_anomaly"] = copy_frame(cur, "truth.injected_anomaly", truth_df)
        reset_sequences(cur, ["account", "grid", "address", "compound", "key_site", "gate", "building", "dwelling", "person",
                              "household", "organisation", "relation", "ownership", "access_grant", "rental", "self_declaration"])
        digest = table_digest(cur)
        self.lap("digest")
        cur.execute(
            "INSERT INTO seed_info (preset, seed, days, anchor_date, digest, counts) VALUES (%s, %s, %s, %s, %s, %s)",
            (self.preset, self.seed, self.days, self.anchor, digest, json.dumps(counts)),
        )
        event_rows, copy_seconds = counts["access_event"], self.copy_seconds
        return {
            "preset": self.preset, "seed": self.seed, "days": self.days, "anchor": self.anchor.isoformat(), "digest": digest,
            "counts": counts, "event_copy_seconds": round(copy_seconds, 2),
            "utility_copy_seconds": round(self.utility_copy_seconds, 2),
            "utility_rows_per_s": round(counts["utility_reading"] / self.utility_copy_seconds) if self.utility_copy_seconds else None,
            "event_rows_per_s": round(event_rows / copy_seconds) if copy_seconds else None,
            "timings": self.timings, "demo_accounts": self.passwords if self.preset != "city" else {},
        }


def _fresh_id_numbers(used: set[str], region: str, births: np.ndarray, male: pd.Series) -> list[str]:
    """ID numbers for people added after the population was built, none equal to one already given.

    The sequence is the lowest free one for that region and birth date: a fixed offset would collide
    with the population's own numbers once a preset is large enough (the city preset did).
    """
    out = []
    for birth, is_male in zip(births, male):
        for seq in range(1, 500):
            number = N.id_number(region, birth, seq, bool(is_male))
            if number not in used:
                used.add(number)
                out.append(number)
                break
        else:
            raise InvalidInput(f"no free ID sequence left for region {region}, birth date {birth}")
    return out


def _merge(layouts: list[Layout]) -> Layout:
    """One layout from several streets (the city preset), with indices renumbered."""
    if len(layouts) == 1:
        return layouts[0]
    merged = Layout(street=layouts[0].street, communities=[], grids=[], compounds=[], buildings=[], gates=[], key_sites=[])
    for lay in layouts:
        c0, g0, k0, s0 = len(merged.communities), len(merged.grids), len(merged.compounds), len(merged.key_sites)
        merged.communities += lay.communities
        merged.grids += [(c + c0, s, p) for c, s, p in lay.grids]
        merged.compounds += [(g + g0, p) for g, p in lay.compounds]
        merged.buildings += [(c + k0, g + g0, p) for c, g, p in lay.buildings]
        merged.gates += [(c + k0, p) for c, p in lay.gates]
        merged.key_sites += [(g + g0, p) for g, p in lay.key_sites]
        merged.key_site_gates += [(j + s0, p) for j, p in lay.key_site_gates]
    return merged


def _visitor_passes(rng, d: pd.DataFrame, pop: Population, first_day: dt.date, days: int, new_uuid) -> pd.DataFrame:  # noqa: ANN001
    occupied = d[d["use"] != "vacant"]
    owner = dict(zip(pop.owners["dwelling_id"], pop.owners["person_id"]))
    visitor_pool = [rng.bytes(32) for _ in range(max(200, len(occupied) // 2))]
    rows = []
    for k in range(days):
        day = first_day + dt.timedelta(days=k)
        n = int(rng.poisson(max(1.0, len(occupied) * 0.004)))
        for idx in rng.integers(0, len(occupied), n):
            dw = occupied.iloc[int(idx)]
            start = E.local_midnight_ms(day) + int(rng.uniform(8, 19) * E.MS_H)
            hours = float(rng.uniform(3, 24))
            rows.append((new_uuid(), int(dw["id"]), int(owner[int(dw["id"])]), "访客",
                         "\\x" + visitor_pool[int(rng.integers(0, len(visitor_pool)))].hex(),
                         pd.Timestamp(start, unit="ms", tz="UTC").isoformat(),
                         pd.Timestamp(start + int(hours * E.MS_H), unit="ms", tz="UTC").isoformat(),
                         int(rng.integers(1, 4)), 1, day, int(dw["compound"]), start))
    return pd.DataFrame(rows, columns=["id", "dwelling_id", "issued_by_person_id", "visitor_name", "visitor_id_hash", "valid_from",
                                       "valid_to", "entries_allowed", "entries_used", "day", "compound", "valid_from_ms"])


def _utilities(rng, d: pd.DataFrame, people: pd.DataFrame, anchor: dt.date) -> UtilityReadings:  # noqa: ANN001
    """90 days of water, electricity and gas per dwelling: a per-dwelling baseline, a weekly rhythm, noise.

    Kept as one (dwelling × day) array per kind (the rows are written by binary COPY straight from them).
    """
    occupants = people[people["home"].notna()].groupby("home").size()
    n_occ = occupants.reindex(d["id"]).fillna(0).to_numpy()
    heads = people[people["home"].notna()].drop_duplicates("home").set_index("home")["name"]
    account = heads.reindex(d["id"]).to_numpy()
    day_list = pd.date_range(anchor - dt.timedelta(days=89), anchor, freq="D")
    values: dict[str, np.ndarray] = {}
    weekly = np.array([1.0, 1.0, 1.0, 1.0, 1.05, 1.15, 1.12])
    for kind, per_person, fixed in (("water", 0.12, 0.02), ("electricity", 2.2, 1.0), ("gas", 0.35, 0.05)):
        base = (fixed + per_person * n_occ) * rng.uniform(0.8, 1.25, len(d))
        base = np.where(n_occ > 0, base, 0.0)
        values[kind] = (base[:, None] * weekly[day_list.day_of_week.to_numpy()][None, :]
                        * rng.uniform(0.88, 1.12, (len(d), len(day_list)))).round(2)
    return UtilityReadings(dwelling_id=d["id"].to_numpy(), account_name=account,
                           days=day_list.to_numpy().astype("datetime64[D]"), values=values)


def _write_addresses(cur, address_rows, d, b, compounds, road_of, layout, place_of) -> int:  # noqa: ANN001
    rows = [(code, kind, text, dist, street, road, number, comp, bld, unit, floor, room, _ewkt(pt))
            for code, kind, text, dist, street, road, number, comp, bld, unit, floor, room, pt in address_rows]
    region = list(b["compound"].map(lambda k: place_of[k][0]))  # each standard address in its own street
    bmap = b.set_index("id")
    for dw in d.itertuples():
        bb = bmap.loc[dw.building_id]
        comp_name = compounds["name"][bb.compound]
        road = road_of[bb.compound]
        street_code, dist, street = place_of[bb.compound]
        region.append(street_code)
        rows.append((f"A-{dw.code}", "standard", f"南京市{dist}{road}{bb.compound * 7 + 1}号{comp_name}{bb.number}幢{dw.unit}单元{dw.room}室",
                     dist, street, road, f"{bb.compound * 7 + 1}号", comp_name, f"{bb.number}幢", f"{dw.unit}单元",
                     f"{dw.floor}层", f"{dw.room}室", None))
    frame = pd.DataFrame(rows, columns=["code", "kind", "full_text", "district", "street", "road", "number", "compound",
                                        "building", "unit", "floor", "room", "geom"])
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["region_code"] = region
    # As people write them: linked to their standard address; and one virtual and one point address.
    extra = [(len(frame) + 1, "N-0001", "non_standard", frame["full_text"][0].replace("幢", "撞"), 1),
             (len(frame) + 2, "N-0002", "non_standard", frame["full_text"][1].replace("南京市", "南京"), 2)]
    frame = pd.concat([frame, pd.DataFrame([{"id": i, "code": c, "kind": k, "full_text": t, "standard_id": s, "region_code": STREET}
                                             for i, c, k, t, s in extra])], ignore_index=True)
    frame = pd.concat([frame, pd.DataFrame([
        {"id": len(frame) + 1, "code": "V-0001", "kind": "virtual", "full_text": "宁海路街道流动摊点登记处", "region_code": STREET},
        {"id": len(frame) + 2, "code": "P-0001", "kind": "point", "full_text": "宁海路与北京西路交叉口东北角",
         "region_code": STREET, "geom": _ewkt(layout.street.representative_point())},
    ])], ignore_index=True)
    frame["standard_id"] = frame["standard_id"].astype("Int64")
    return copy_frame(cur, "address", frame)


def _write_person_links(cur, rng, pop: Population, anchor: dt.date, d: pd.DataFrame) -> dict[str, int]:  # noqa: ANN001
    people = pop.people
    counts: dict[str, int] = {}
    tag_rows = []
    for pid, tags in zip(people["id"], people["tags"]):
        for tag in tags:
            supervised = tag == "community_correction"
            tag_rows.append((pid, tag, "seed", "《社区矫正法》第十七条 社区矫正决定书" if supervised else None,
                             (anchor + dt.timedelta(days=int(rng.integers(120, 700)))).isoformat() if supervised else None))
    counts["person_tag"] = copy_frame(cur, "person_tag", pd.DataFrame(tag_rows, columns=["person_id", "tag", "set_by", "legal_basis", "legal_basis_expiry"]))
    hh = pop.households.assign(code=[f"H{i:07d}" for i in pop.households["id"]]).rename(columns={"head": "head_person_id"})
    counts["household"] = copy_frame(cur, "household", hh[["id", "code", "dwelling_id", "head_person_id"]])
    counts["household_member"] = copy_frame(cur, "household_member", pop.members.rename(columns={"relation": "relation_to_head"}))
    owners = pop.owners.assign(since=[f"{y}-06-01" for y in pop.owners["since_year"]])
    owners.insert(0, "id", np.arange(1, len(owners) + 1))
    counts["ownership"] = copy_frame(cur, "ownership", owners[["id", "dwelling_id", "person_id", "since"]])
    grants = pop.grants.rename(columns={"owner": "owner_person_id", "grantee": "grantee_person_id"})
    grants["valid_from"] = pd.to_datetime(grants["valid_from"]).dt.strftime("%Y-%m-%dT00:00:00Z")
    grants.insert(0, "id", np.arange(1, len(grants) + 1))
    counts["access_grant"] = copy_frame(cur, "access_grant", grants[["id", "dwelling_id", "owner_person_id", "grantee_person_id", "kind", "valid_from"]])
    # Organisations, mostly on ground floors, and who works where.
    n_org = max(5, len(d) // 100)
    org_dwellings = d[d["floor"] == 1].sample(n=min(n_org, int((d["floor"] == 1).sum())), random_state=int(rng.integers(0, 2**31)))
    orgs = pd.DataFrame({
        "id": np.arange(1, len(org_dwellings) + 1), "uscc": N.uscc_codes(rng, "320106", len(org_dwellings)),
        "name": [f"南京{N.SURNAMES[i % len(N.SURNAMES)]}氏{k}" for i, k in enumerate(rng.choice(["便利店", "餐饮店", "科技有限公司", "房产中介", "诊所", "理发店"], len(org_dwellings)))],
        "kind": rng.choice(["shop", "restaurant", "company", "agency", "clinic"], len(org_dwellings)),
        "dwelling_id": org_dwellings["id"].to_numpy(),
    })
    counts["organisation"] = copy_frame(cur, "organisation", orgs)
    rel = []
    residents = people[people["home"].notna()]
    for pid, home, kind, hint in zip(residents["id"], residents["home"], residents["kind"], residents["hint"]):
        source, conf = ("rental_record", 0.9) if hint == "tenant" else ("household_register", 1.0)
        rel.append((pid, "lives_in", None, int(home), None, source, conf, "2020-01-01"))
    for dw, pid in zip(pop.owners["dwelling_id"], pop.owners["person_id"]):
        rel.append((pid, "owns", None, int(dw), None, "property_registry", 1.0, "2015-01-01"))
    workers = people[(people["role"] == 0) & people["home"].notna()]
    chosen = workers.sample(frac=0.2, random_state=int(rng.integers(0, 2**31)))
    for pid, org in zip(chosen["id"], rng.integers(1, len(orgs) + 1, len(chosen))):
        rel.append((pid, "employed_by", None, None, int(org), "social_insurance", 0.8, "2022-03-01"))
    rel_df = pd.DataFrame(rel, columns=["person_id", "kind", "other_person_id", "dwelling_id", "organisation_id", "source", "confidence", "valid_from"])
    for col in ("other_person_id", "dwelling_id", "organisation_id"):
        rel_df[col] = rel_df[col].astype("Int64")
    rel_df.insert(0, "id", np.arange(1, len(rel_df) + 1))
    counts["relation"] = copy_frame(cur, "relation", rel_df)
    # Rentals: tenant heads of rented dwellings, some through an agency, a few blacklisted.
    tenants = pop.grants[pop.grants["kind"] == "tenant"].drop_duplicates("dwelling_id")
    r = len(tenants)
    black = rng.random(r) < 0.02
    rentals = pd.DataFrame({
        "id": np.arange(1, r + 1), "dwelling_id": tenants["dwelling_id"].to_numpy(), "lessor_person_id": tenants["owner"].to_numpy(),
        "agency_organisation_id": pd.array(np.where(rng.random(r) < 0.2, rng.integers(1, len(orgs) + 1, r), 0), dtype="Int64"),
        "lessee_person_id": tenants["grantee"].to_numpy(),
        "start_date": pd.to_datetime(tenants["valid_from"]).dt.strftime("%Y-%m-%d").to_numpy(),
        "monthly_rent": rng.uniform(1800, 6500, r).round(0), "blacklisted": black,
        "blacklist_reason": np.where(black, "消防隐患：违规隔断，已责令整改", None),
    })
    rentals.loc[rentals["agency_organisation_id"] == 0, "agency_organisation_id"] = pd.NA
    counts["rental"] = copy_frame(cur, "rental", rentals)
    floating = people[(people["kind"] == "floating") & people["home"].notna()]
    declared = floating.sample(frac=0.1, random_state=int(rng.integers(0, 2**31)))
    decl = pd.DataFrame({
        "id": np.arange(1, len(declared) + 1), "person_id": declared["id"].to_numpy(), "dwelling_id": declared["home"].astype(int).to_numpy(),
        "period_from": (anchor - dt.timedelta(days=60)).isoformat(), "relation_to_owner": "租客",
        "status": np.where(rng.random(len(declared)) < 0.6, "verified", "pending"),
    })
    counts["self_declaration"] = copy_frame(cur, "self_declaration", decl)
    return counts
