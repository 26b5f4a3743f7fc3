"""Three district servers (PostgreSQL clusters of the test session's own) attached to the city database.

玄武区 320102 (A), 秦淮区 320104 (C), 鼓楼区 320106 (B). 王强 (the mover) lives in A and rents in B, so both
districts know him, each under its own id and the same keyed hash of his ID number. Companions: 张三 in A only,
李四 in B only, 赵六 in both (one person, two rows); 赵六's namesake with another ID number in B is someone else;
孙七 in C passes C's gate at the very moments the mover passes A's.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from blockdata import migrate
from blockdata.db import transaction
from core.config import city_settings
from core.viewer import Role, Viewer
from tests.city.districts import DistrictServer, district_server, flows, id_number, passages, seed_district

SH = ZoneInfo("Asia/Shanghai")
MOVER = id_number("320102", 1, dt.date(1980, 5, 6))
ZHAO = id_number("320106", 7, dt.date(1975, 1, 2))
ZHAO_NAMESAKE = id_number("320104", 8, dt.date(1975, 1, 2))
AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=SH)
NIGHT = dt.date(2026, 11, 15)  # night 1; nights 1–5 are Nov 15–19 (local)
CITY_ADMIN = Viewer(None, Role.admin, (), "system:city-test")


def at(day_offset: int, hh: int, mm: int) -> dt.datetime:
    """Local time on night ``day_offset`` (0 = Nov 15); hours < 12 fall on the next calendar day."""
    day = NIGHT + dt.timedelta(days=day_offset + (1 if hh < 12 else 0))
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=SH)


@pytest.fixture(scope="session")
def reader_password() -> Iterator[str]:
    password = "city-" + secrets.token_hex(8)
    old = os.environ.get("GRIDPULSE_DISTRICT_PASSWORD")
    os.environ["GRIDPULSE_DISTRICT_PASSWORD"] = password
    city_settings.cache_clear()
    yield password
    if old is None:
        os.environ.pop("GRIDPULSE_DISTRICT_PASSWORD", None)
    else:
        os.environ["GRIDPULSE_DISTRICT_PASSWORD"] = old
    city_settings.cache_clear()


@pytest.fixture(scope="session")
def districts(database_url: str, reader_password: str) -> Iterator[dict[str, DistrictServer]]:
    """A, B and C, migrated and seeded, with their passages; detached again and removed at the end."""
    with district_server("320102", "玄武区", reader_password) as a, \
            district_server("320106", "鼓楼区", reader_password) as b, \
            district_server("320104", "秦淮区", reader_password) as c:
        for server in (a, b, c):
            migrate.upgrade(server.district_url)
        seed_district(a, {"mover": ("王强", MOVER), "zhang": ("张三", id_number("320102", 2, dt.date(1990, 2, 3))),
                          "zhao": ("赵六", ZHAO), "extra": ("钱八", id_number("320102", 9, dt.date(1966, 6, 6)))})
        seed_district(b, {"li": ("李四", id_number("320106", 3, dt.date(1985, 3, 4))), "zhao": ("赵六", ZHAO),
                          "namesake": ("赵六", ZHAO_NAMESAKE), "tenant:mover": ("王强", MOVER)})
        seed_district(c, {"sun": ("孙七", id_number("320104", 4, dt.date(1992, 4, 5)))})
        # Co-presence on night 0 (Nov 15, local evening): A's gate with 张三 and 赵六, B's with 李四 and 赵六.
        passages(a, [("mover", at(0, 19, 0), "in"), ("zhang", at(0, 19, 1), "in"), ("zhao", at(0, 18, 59), "in")])
        passages(b, [("mover", at(1, 19, 0), "in"), ("li", at(1, 19, 1), "out"), ("zhao", at(1, 19, 2), "in"),
                     ("namesake", at(1, 19, 15), "in")])                    # 15 minutes later: not co-present
        passages(c, [("sun", at(0, 19, 0), "in")])                           # same moment, another district's gate
        # Footholds: nights 0–4. A: 0, 1, 3 (3 nights); B: 2, 4 (2 nights).
        passages(a, [("mover", at(0, 23, 0), "in"), ("mover", at(1, 22, 30), "in"),
                     ("mover", at(3, 23, 40), "in"),                         # after B's 22:10 entry the same night
                     ("mover", at(4, 21, 0), "in"), ("mover", at(4, 22, 30), "out")])
        passages(b, [("mover", at(2, 23, 10), "in"), ("mover", at(3, 22, 10), "in"),
                     ("mover", at(4, 1, 0), "in")])                          # 01:00 after night 4's 22:30 exit from A
        now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
        for server, (i, o) in ((a, (5, 3)), (b, (7, 2)), (c, (11, 4))):
            flows(server, now - dt.timedelta(minutes=10), i, o)
            flows(server, now - dt.timedelta(hours=3), 100, 100)              # outside the hour: not counted
        from city.servers import attach
        with transaction() as s:
            for server in (a, b, c):
                attach(s, CITY_ADMIN, code=server.code, name=server.name, host="127.0.0.1", port=server.port,
                       dbname="gp_district")
        yield {"A": a, "B": b, "C": c}
        from city.servers import detach
        with transaction() as s:
            for server in (a, b, c):
                if s.execute(text("SELECT 1 FROM pg_foreign_server WHERE srvname = :n"),
                             {"n": f"gp_district_{server.code}"}).first():
                    detach(s, CITY_ADMIN, server.code)
