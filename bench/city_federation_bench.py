"""A city query over three district servers (postgres_fdw) beside the same query on one local database.

Starts three PostgreSQL clusters of its own on free ports (initdb into temporary folders, as the tests do; the
shared cluster on 5432 only hosts the bench's city database ``gridpulse_bench_city`` and the local comparison
``gridpulse_bench_city_local``), seeds each district with the same shape (compounds, buildings, dwellings,
people, an hour of per-minute gate flows), attaches them, and measures:

- the figure: ``city.kpis.district_kpis`` as a city-wide viewer — the districts asked at once, one query per
  district through its foreign server (residents, the real-time population, in/out last hour, open alerts,
  overdue orders), each pushed down whole;
- the same SQL one district after another on the caller's one connection (how the city asked before);
- the floor, in the same run: the same SQL on ONE local database holding all three districts' rows;
- the outage: the same city query with one district stopped (its notice instead of its rows), and with one
  district hung (a table its figures read locked at the district): the per-district timeout.

Printed as milliseconds and as ratios to the floor; all servers and both databases are removed at the end.
`--quick`: 1,000 people per district (default 20,000), fewer repetitions. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_city")
os.environ["GRIDPULSE_DISTRICT_PASSWORD"] = "bench-" + secrets.token_hex(8)

import psycopg  # noqa: E402
from shapely.geometry import Point, box  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.common import fresh_database  # noqa: E402
from blockdata import migrate, registry  # noqa: E402
from blockdata.db import engine, transaction  # noqa: E402
from blockdata.models import GateKind, RegionLevel  # noqa: E402
from city.federated import now as time_now  # noqa: E402
from city.kpis import _SQL, district_kpis  # noqa: E402
from city.police import _CO_PRESENCE  # noqa: E402
from city.servers import attach, districts, grant_reader  # noqa: E402
from core.config import city_settings, settings  # noqa: E402
from core.viewer import Role, Viewer  # noqa: E402

LOCAL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_city_local"
DISTRICTS = (("320102", "玄武区"), ("320104", "秦淮区"), ("320106", "鼓楼区"))
CITY = Viewer(None, Role.street, ("320100000000",), "bench-city")
ACTOR = Viewer(None, Role.admin, (), "system:bench")
COMPOUNDS, BUILDINGS, FLOORS, PER_FLOOR = 20, 10, 20, 4
_DAY, _W = dt.timedelta(days=1), dt.timedelta(minutes=2)


def _seed(url: str, code: str, name: str, people: int) -> None:
    """One district's places through the validated writes, its dwellings, people and flows in bulk SQL."""
    dx = (int(code[4:6]) - 2) * 0.2
    with transaction(url) as s:
        if not s.execute(text("SELECT 1 FROM region WHERE code = '320100000000'")).first():
            registry.add_region(s, code="320100000000", name="南京市", level=RegionLevel.city, parent_code=None)
        registry.add_region(s, code=f"{code}000000", name=name, level=RegionLevel.district, parent_code="320100000000")
        registry.add_region(s, code=f"{code}001000", name=f"{name}一街道", level=RegionLevel.street, parent_code=f"{code}000000")
        registry.add_region(s, code=f"{code}001001", name=f"{name}一社区", level=RegionLevel.community,
                            parent_code=f"{code}001000")
        grid = registry.add_grid(s, community_code=f"{code}001001", sequence="001", name="一网格",
                                 geom=box(118.7 + dx, 32.0, 118.7 + dx + 0.1, 32.1))
        for c in range(COMPOUNDS):
            x, y = 118.7 + dx + 0.004 * c, 32.001
            compound = registry.add_compound(s, code=f"C{code}{c:03d}", name=f"小区{c}", community_code=f"{code}001001",
                                             geom=box(x, y, x + 0.003, y + 0.003))
            registry.add_gate(s, code=f"G{code}{c:03d}", name="南门", kind=GateKind.pedestrian, compound_id=compound.id,
                              geom=Point(x + 0.0015, y))
            for b in range(BUILDINGS):
                bx = x + 0.0002 + 0.00025 * b
                registry.add_building(s, code=f"B{code}{c:03d}{b:02d}", name=f"{b + 1}幢", grid_id=grid.id,
                                      compound_id=compound.id, floors=FLOORS, units=1,
                                      geom=box(bx, y + 0.001, bx + 0.0002, y + 0.0012))
        s.execute(text(
            """INSERT INTO dwelling (code, building_id, unit, floor, room, area_m2, rooms, use)
               SELECT b.code || '-' || f || '0' || r, b.id, 1, f, f || '0' || r, 90, 3, 'residential'
               FROM building b, generate_series(1, :floors) f, generate_series(1, :per) r
               WHERE b.code LIKE :prefix"""), {"floors": FLOORS, "per": PER_FLOOR, "prefix": f"B{code}%"})
        s.execute(text(
            """INSERT INTO person (id_hash, id_masked, name, sex, birth_date, residence_kind, home_dwelling_id)
               SELECT decode(md5(:code || 'a' || i) || md5(:code || 'b' || i), 'hex'), '3201**********0000', '居民' || i,
                      'M', date '1980-01-01' + (i % 9000), 'registered',
                      (SELECT min(id) FROM dwelling WHERE code LIKE :prefix) + i % :dwellings
               FROM generate_series(1, :people) i"""),
            {"code": code, "prefix": f"B{code}%", "dwellings": COMPOUNDS * BUILDINGS * FLOORS * PER_FLOOR, "people": people})
        s.execute(text(
            """INSERT INTO gate_flow_minute (gate_id, minute, entries, exits, denied)
               SELECT g.id, date_trunc('minute', now()) - make_interval(mins => m), 1 + (g.id + m) % 7, (g.id * m) % 5, 0
               FROM gate g, generate_series(1, 120) m WHERE g.code LIKE :prefix"""), {"prefix": f"G{code}%"})
        s.execute(text("ANALYZE"))


def _median_ms(fn, repeat: int) -> float:  # noqa: ANN001 - a callable
    fn()  # warm: connections, plans, caches
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _drop(url: str) -> None:
    u = make_url(url)
    engine(url).dispose()
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the city query's plan for one district")
    parser.add_argument("--people", type=int, default=None, help="people per district (default 20000; --quick 1000)")
    args = parser.parse_args()
    people = args.people or (1000 if args.quick else 20000)
    repeat = 5 if args.quick else 15
    from tests.city.districts import district_server  # the tests' own-cluster helper (initdb, scram, gridpulse_city)

    city_settings.cache_clear()
    password = city_settings().district_password
    fresh_database(settings().database_url)
    fresh_database(LOCAL_URL)
    with ExitStack() as stack:
        servers = [stack.enter_context(district_server(code, name, password)) for code, name in DISTRICTS]
        t0 = time.perf_counter()
        for server in servers:
            migrate.upgrade(server.district_url)
            _seed(server.district_url, server.code, server.name, people)
            with transaction(server.district_url) as s:
                grant_reader(s, "gridpulse_city")
            _seed(LOCAL_URL, server.code, server.name, people)
        with transaction() as s:
            for server in servers:
                attach(s, ACTOR, code=server.code, name=server.name, host="127.0.0.1", port=server.port,
                       dbname="gp_district")
        print(f"seeded 3 districts × {people} people and the local copy in {time.perf_counter() - t0:.0f} s", flush=True)

        def federated() -> tuple[int, int]:
            with transaction() as s:
                result = district_kpis(s, CITY)
            assert len(result.rows) == 3 and not result.unreachable
            return sum(r.residents for r in result.rows), sum(r.realtime for r in result.rows)

        def serial() -> tuple[int, int]:
            with transaction() as s:
                rows = [s.execute(text(_SQL.format(s=d.schema)), {"patterns": CITY.like_patterns}).one()
                        for d in districts(s)]
            return sum(r.residents for r in rows), sum(r.realtime for r in rows)

        def local() -> tuple[int, int]:
            with transaction(LOCAL_URL) as s:
                row = s.execute(text(_SQL.format(s="public")), {"patterns": CITY.like_patterns}).one()
            return row.residents, row.realtime

        assert federated() == serial() == local() == (3 * people, 3 * people), (federated(), serial(), local())
        fed_ms = _median_ms(federated, repeat)
        serial_ms = _median_ms(serial, repeat)
        local_ms = _median_ms(local, repeat)
        holder = psycopg.connect(f"postgresql://postgres:{servers[1].superuser_password}@127.0.0.1:{servers[1].port}/gp_district")
        holder.execute("BEGIN; LOCK TABLE person IN ACCESS EXCLUSIVE MODE")

        def hung() -> None:
            with transaction() as s:
                result = district_kpis(s, CITY)
            assert len(result.rows) == 2 and [d.code for d in result.unreachable] == [servers[1].code]

        hung_ms = _median_ms(hung, max(3, repeat // 3))
        holder.rollback()
        holder.close()
        servers[2].stop()

        def degraded() -> None:
            with transaction() as s:
                result = district_kpis(s, CITY)
            assert len(result.rows) == 2 and [d.code for d in result.unreachable] == [servers[2].code]

        down_ms = _median_ms(degraded, repeat)
        servers[2].start()
        with transaction() as s:
            plan = "\n".join(s.execute(text("EXPLAIN (VERBOSE, COSTS OFF) " + _SQL.format(s=f"gp_district_{servers[0].code}")),
                                       {"patterns": CITY.like_patterns}).scalars())
            police_plan = "\n".join(s.execute(text("EXPLAIN (VERBOSE, COSTS OFF) " + _CO_PRESENCE.format(
                s=f"gp_district_{servers[0].code}")), {"p": 1, "patterns": CITY.like_patterns, "start": time_now() - _DAY,
                                                        "end": time_now(), "ws": _W.total_seconds(), "wstart": time_now() - _DAY - _W,
                                                        "wend": time_now() + _W}).scalars())
        police_scans = sum(1 for line in police_plan.splitlines()
                           if line.strip().startswith(("Foreign Scan", "->  Foreign Scan")))
        pushed = sum(1 for line in plan.splitlines() if line.strip().startswith(("Foreign Scan", "->  Foreign Scan")))
        if args.explain:
            print(plan)
            print(police_plan)
        for server in servers:  # the city's foreign servers go with the bench's city database
            engine(server.district_url).dispose()
    _drop(settings().database_url)
    _drop(LOCAL_URL)
    result = {
        "bench": "city_federation", "people_per_district": people, "districts": 3,
        "city_query_ms": round(fed_ms, 1), "serial_query_ms": round(serial_ms, 1), "local_query_ms": round(local_ms, 1),
        "ratio_city_to_local": round(fed_ms / local_ms, 2), "ratio_serial_to_local": round(serial_ms / local_ms, 2),
        "one_district_down_ms": round(down_ms, 1), "ratio_down_to_local": round(down_ms / local_ms, 2),
        "one_district_hung_ms": round(hung_ms, 1), "district_timeout_s": city_settings().district_timeout_s,
        "foreign_scans_per_district": pushed, "co_presence_foreign_scans_per_district": police_scans,
    }
    print(f"city query over 3 districts (postgres_fdw, at once): {fed_ms:.1f} ms; one after another: {serial_ms:.1f} ms; "
          f"one district hung: {hung_ms:.1f} ms (timeout {city_settings().district_timeout_s} s)")
    print(f"city query over 3 districts (postgres_fdw): {fed_ms:.1f} ms; the same on one local database: "
          f"{local_ms:.1f} ms → ×{fed_ms / local_ms:.2f}; one district down: {down_ms:.1f} ms (×{down_ms / local_ms:.2f}); "
          f"{pushed} foreign scans per district for the figures (one per view), {police_scans} for co-presence "
          "(pushed down whole)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
