"""A small city for the aggregated map's tests: the seeded `tiny` street, copied twice.

The `tiny` preset is one street (宁海路街道, 320106001000) of one district (鼓楼区). The aggregated map needs
several streets and districts, and the `city` preset is far too big to seed in a test; so the tiny street's
communities, grids, compounds, gates and buildings are copied, shifted east, as

- 320106002000 第二街道 in the same district (鼓楼区), about 1.4 km east, and
- 320102001000 玄武一街道 in another district (玄武区, 320102000000, added without a polygon, as a district of
  the seeded city is), about 4 km east.

Nobody lives in the copies (their buildings have no dwellings); the flows between streets are passages of
residents of the tiny street at the copies' gates, added in the last hour the rollups hold: 4 people at a gate
of 第二街道, 3 at a gate of 玄武一街道. ``extend_to_small_city`` does the same to any seeded street (the
benchmark's `street` preset: the shifts grow with the street's width).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import text

from blockdata.db import transaction
from tests.seeded import ANCHOR, seed_tiny_swept

TINY_STREET = "320106001000"
CITY = "320100000000"
GULOU = "320106000000"
XUANWU = "320102000000"


@dataclass(frozen=True)
class Copy:
    k: int             # the copy's number: id offsets and code prefixes
    street: str        # the new street's code
    name: str
    district: str
    district_name: str
    dx: float          # shift east, degrees


COPIES = (Copy(1, "320106002000", "第二街道", GULOU, "鼓楼区", 0.015),
          Copy(2, "320102001000", "玄武一街道", XUANWU, "玄武区", 0.042))
FLOW_PEOPLE = {"320106002000": 4, "320102001000": 3}


TINY_WIDTH_DEG = 0.0085  # the tiny street's width east-west; the copies' shifts are in proportion to it


def _copy_street(s, c: Copy, scale: float = 1.0) -> None:  # noqa: ANN001 - a Session
    p = {"k": c.k, "street": c.street, "pre": c.street[:9], "name": c.name, "district": c.district,
         "dname": c.district_name, "dx": c.dx * scale, "tiny": TINY_STREET, "tinypre": TINY_STREET[:9]}
    s.execute(text("""INSERT INTO region (code, parent_code, level, name, geom)
                      SELECT CAST(:district AS varchar), CAST(:city AS varchar), 'district', CAST(:dname AS varchar), NULL
                      WHERE NOT EXISTS (SELECT 1 FROM region WHERE code = CAST(:district AS varchar))"""), p | {"city": CITY})
    s.execute(text("""INSERT INTO region (code, parent_code, level, name, geom)
                      SELECT :street, :district, 'street', :name, ST_Translate(geom, :dx, 0) FROM region WHERE code = :tiny"""), p)
    s.execute(text("""INSERT INTO region (code, parent_code, level, name, geom)
                      SELECT :pre || right(code, 3), :street, 'community', :name || right(code, 3) || '社区', ST_Translate(geom, :dx, 0)
                      FROM region WHERE level = 'community' AND code LIKE :tinypre || '%'"""), p)
    s.execute(text("""INSERT INTO grid (id, code, community_code, name, geom)
                      SELECT id + 1000 * :k, :pre || right(code, 6), :pre || substr(code, 10, 3), :name || name, ST_Translate(geom, :dx, 0)
                      FROM grid WHERE code LIKE :tinypre || '%' AND id < 1000"""), p)
    s.execute(text("""INSERT INTO compound (id, code, name, community_code, geom)
                      SELECT id + 1000 * :k, 'X' || :k || code, :name || name, :pre || right(community_code, 3), ST_Translate(geom, :dx, 0)
                      FROM compound WHERE community_code LIKE :tinypre || '%' AND id < 1000"""), p)
    s.execute(text("""INSERT INTO gate (id, code, name, kind, compound_id, geom)
                      SELECT id + 10000 * :k, 'X' || :k || code, name, kind, compound_id + 1000 * :k, ST_Translate(geom, :dx, 0)
                      FROM gate WHERE compound_id < 1000"""), p)
    s.execute(text("""INSERT INTO building (id, code, name, grid_id, compound_id, floors, units, height_m, geom)
                      SELECT id + 100000 * :k, 'X' || :k || code, name, grid_id + 1000 * :k, compound_id + 1000 * :k,
                             floors, units, height_m, ST_Translate(geom, :dx, 0)
                      FROM building WHERE id < 100000"""), p)


def _flows(s) -> None:  # noqa: ANN001
    """Residents of the tiny street entering a gate of each copy, ten minutes before the rollups' newest minute."""
    latest = s.execute(text("SELECT max(minute) FROM gate_flow_minute")).scalar_one()
    people = s.execute(text(
        """SELECT p.id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
           JOIN grid g ON g.id = b.grid_id WHERE g.code LIKE :pre ORDER BY p.id LIMIT 20"""),
        {"pre": TINY_STREET[:9] + "%"}).scalars().all()
    at = latest - dt.timedelta(minutes=10)
    used = 0
    for street, n in FLOW_PEOPLE.items():
        gate, compound = s.execute(text(
            """SELECT t.id, t.compound_id FROM gate t JOIN compound c ON c.id = t.compound_id
               WHERE c.community_code LIKE :pre ORDER BY t.id LIMIT 1"""), {"pre": street[:9] + "%"}).one()
        for person in people[used:used + n]:
            for minutes in (0, 3):  # twice each: people are counted once
                s.execute(text(
                    """INSERT INTO access_event (event_id, ts, gate_id, compound_id, direction, method, result, person_id, score)
                       VALUES (:id, :ts, :gate, :compound, 'in', 'face', 'open', :person, 0.7)"""),
                    {"id": uuid.uuid4(), "ts": at + dt.timedelta(minutes=minutes), "gate": gate, "compound": compound,
                     "person": person})
        used += n


# Command centres of the city and of each district, beside the seed's street account (`street`).
VIEWERS = {"city-cc": ("南京市指挥中心", CITY), "gulou-cc": ("鼓楼区指挥中心", GULOU), "xuanwu-cc": ("玄武区指挥中心", XUANWU)}


def extend_to_small_city(password: str | None = None) -> dict:
    """Copy the seeded street twice (shifted in proportion to its width), add the flows and the city's and
    districts' command-centre accounts (role ``street``; with ``password``, every account gets it)."""
    from blockdata.models import Account
    from core.passwords import hash_password

    hashed = hash_password(password) if password else None
    with transaction() as s:
        width = s.execute(text("SELECT ST_XMax(geom) - ST_XMin(geom) FROM region WHERE code = :c"), {"c": TINY_STREET}).scalar_one()
        scale = max(1.0, width / TINY_WIDTH_DEG)
        for c in COPIES:
            _copy_street(s, c, scale if scale > 1.2 else 1.0)
        _flows(s)
        if hashed:
            s.execute(text("UPDATE account SET password_hash = :h"), {"h": hashed})
        s.execute(text("SELECT setval(pg_get_serial_sequence('account', 'id'), (SELECT max(id) FROM account) + 1, false)"))
        for username, (name, code) in VIEWERS.items():
            s.add(Account(username=username, display_name=name, role="street", jurisdiction=[code], password_hash=hashed))
    return {"city": CITY, "districts": (GULOU, XUANWU), "streets": (TINY_STREET,) + tuple(c.street for c in COPIES),
            "flow_people": dict(FLOW_PEOPLE), "viewers": {u: code for u, (_, code) in VIEWERS.items()}}


def seed_small_city(anchor: dt.date = ANCHOR, password: str | None = None) -> dict:
    """Seed `tiny` and extend it to the small city (:func:`extend_to_small_city`); returns the codes the tests use."""
    seed_tiny_swept(anchor)
    return extend_to_small_city(password)
