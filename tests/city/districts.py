"""Three district servers of the test's own: PostgreSQL clusters on free ports (initdb into temporary folders,
like tests/ops/pg_server.py), each with a migrated GridPulse database and a small district in it.

Loopback connections need a password (scram-sha-256), as on a real district server: the city's foreign servers
log in as the read-only role ``gridpulse_city`` with GRIDPULSE_DISTRICT_PASSWORD. The shared cluster on 5432
is never touched but as the city database's client.
"""
from __future__ import annotations

import datetime as dt
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from shapely.geometry import Point, box
from sqlalchemy import text

from core.config import load_secrets
from blockdata import registry
from blockdata.db import engine, ensure_event_partitions, transaction
from blockdata.identity import check_digit, hash_id_number, mask_id_number
from blockdata.models import GateKind, Person, Relation, RelationKind, ResidenceKind, Sex, RegionLevel
from city.servers import grant_reader
from tests.browser import free_port
from tests.ops.pg_server import OwnPostgres, _as_postgres, _bin

DISTRICT_DB = "gp_district"


@dataclass
class DistrictServer(OwnPostgres):
    """A district's cluster: an OwnPostgres (start, stop) with a password on loopback and its district's ids."""

    code: str = ""
    name: str = ""
    superuser_password: str = ""
    ids: dict[str, int] = field(default_factory=dict)  # what the seed made: person/gate/compound ids by label

    @property
    def district_url(self) -> str:  # the district database, logged in with the password
        return f"postgresql+psycopg://postgres:{self.superuser_password}@127.0.0.1:{self.port}/{DISTRICT_DB}"

    def stop(self) -> None:
        engine(self.district_url).dispose()  # our own pooled connections, so the next use reconnects
        super().stop()


@contextmanager
def district_server(code: str, name: str, reader_password: str) -> Iterator[DistrictServer]:
    root = Path(tempfile.mkdtemp(prefix="gp-city-district-"))
    data = root / "data"
    data.mkdir()
    superuser = secrets.token_hex(12)
    pwfile = root / "pw"
    pwfile.write_text(superuser + "\n")
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for p in (root, data, pwfile):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    subprocess.run(_as_postgres([_bin("initdb"), "-D", str(data), "--auth-local=trust", "--auth-host=scram-sha-256",
                                 "-U", "postgres", "--pwfile", str(pwfile), "-E", "UTF8"]), check=True, capture_output=True)
    server = DistrictServer(free_port(), data, code=code, name=name, superuser_password=superuser)
    server.start()
    try:
        with psycopg.connect(f"postgresql://postgres:{superuser}@127.0.0.1:{server.port}/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{DISTRICT_DB}"')
            c.execute(f"CREATE ROLE gridpulse_city LOGIN PASSWORD '{reader_password}'")
        yield server
    finally:
        engine(server.district_url).dispose()
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


def id_number(district: str, seq: int, birth: dt.date) -> str:
    first17 = f"{district}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_digit(first17)


def cell(code: str, x0: float, y0: float, size: float = 0.01):  # noqa: ANN201 - a shapely polygon
    """A square in the district's own corner of the map (each district shifted by its code)."""
    dx = (int(code[4:6]) - 2) * 0.05
    return box(118.70 + dx + x0, 32.00 + y0, 118.70 + dx + x0 + size, 32.00 + y0 + size)


def seed_district(server: DistrictServer, people: dict[str, tuple[str, str]]) -> None:
    """A street, a community, a grid, a compound with one gate, a building with three dwellings, and people.

    ``people``: label → (name, ID number); the first person's home is dwelling 1, the others' dwelling 2;
    labels starting with "tenant:" get no home here, only a live rental of dwelling 3 (a tie to the district)."""
    code = server.code
    key = load_secrets().id_hash_key
    with transaction(server.district_url) as s:
        registry.add_region(s, code="320100000000", name="南京市", level=RegionLevel.city, parent_code=None)
        registry.add_region(s, code=f"{code}000000", name=server.name, level=RegionLevel.district, parent_code="320100000000")
        registry.add_region(s, code=f"{code}001000", name=f"{server.name}一街道", level=RegionLevel.street,
                            parent_code=f"{code}000000")
        registry.add_region(s, code=f"{code}001001", name=f"{server.name}一社区", level=RegionLevel.community,
                            parent_code=f"{code}001000")
        grid = registry.add_grid(s, community_code=f"{code}001001", sequence="001", name="一网格", geom=cell(code, 0, 0))
        compound = registry.add_compound(s, code=f"C{code}", name=f"{server.name}花园", community_code=f"{code}001001",
                                         geom=cell(code, 0.002, 0.002, 0.005))
        gate = registry.add_gate(s, code=f"G{code}", name="南门", kind=GateKind.pedestrian, compound_id=compound.id,
                                 geom=Point(*cell(code, 0.0045, 0.002, 0).bounds[:2]))
        building = registry.add_building(s, code=f"B{code}", name="1幢", grid_id=grid.id, compound_id=compound.id,
                                         floors=6, units=1, geom=cell(code, 0.003, 0.003, 0.001))
        dwellings = [registry.add_dwelling(s, code=f"B{code}-1-{f}01", building_id=building.id, unit=1, floor=f,
                                           room=f"{f}01", area_m2=90, rooms=3) for f in (1, 2, 3)]
        server.ids.update(gate=gate.id, compound=compound.id)
        for i, (label, (name, number)) in enumerate(people.items()):
            tenant = label.startswith("tenant:")
            p = Person(id_hash=hash_id_number(key, number), id_masked=mask_id_number(number), name=name, sex=Sex.male,
                       birth_date=dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
                       residence_kind=ResidenceKind.registered,
                       home_dwelling_id=None if tenant else dwellings[0 if i == 0 else 1].id)
            s.add(p)
            s.flush()
            if tenant:
                s.add(Relation(person_id=p.id, kind=RelationKind.rents, dwelling_id=dwellings[2].id, source="rental_record",
                               confidence=0.9, valid_from=dt.date(2026, 1, 1)))
            server.ids[label.removeprefix("tenant:")] = p.id
        ensure_event_partitions(s, "2026-11-01", "2026-12-31")
        grant_reader(s, "gridpulse_city")


def passages(server: DistrictServer, rows: list[tuple[str, dt.datetime, str]]) -> None:
    """Open gate passages at the district's one gate: (person label, time, 'in'|'out')."""
    with transaction(server.district_url) as s:
        for label, ts, direction in rows:
            s.execute(text(
                """INSERT INTO access_event (event_id, ts, gate_id, compound_id, direction, method, result, person_id)
                   VALUES (:e, :ts, :g, :c, CAST(:d AS direction), 'face', 'open', :p)"""),
                {"e": uuid.uuid4(), "ts": ts, "g": server.ids["gate"], "c": server.ids["compound"], "d": direction,
                 "p": server.ids[label]})


def flows(server: DistrictServer, minute: dt.datetime, entries: int, exits: int) -> None:
    with transaction(server.district_url) as s:
        s.execute(text("INSERT INTO gate_flow_minute (gate_id, minute, entries, exits, denied) VALUES (:g, :m, :i, :o, 0)"),
                  {"g": server.ids["gate"], "m": minute, "i": entries, "o": exits})
