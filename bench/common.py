"""What the benchmarks share: their own databases, and the machine's insert ceiling on access_event."""
from __future__ import annotations

import time

import psycopg
from sqlalchemy.engine import make_url

from blockdata import migrate


def fresh_database(url: str) -> None:
    """Drop and create the benchmark's own database, then migrate it."""
    u = make_url(url)
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{u.database}"')
    migrate.upgrade(url)


def insert_ceiling_rows_per_s(dsn: str, n: int, gate_id: int, compound_id: int) -> float:
    """`INSERT … SELECT generate_series` of n rows into access_event (same partitions and indexes), then removed."""
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        conn.execute(
            """INSERT INTO access_event (event_id, ts, gate_id, compound_id, direction, method, result, person_id, score, reason)
               SELECT gen_random_uuid(), now() - make_interval(secs => i * 0.003), %s, %s,
                      CASE WHEN i %% 2 = 0 THEN 'in'::direction ELSE 'out'::direction END, 'face', 'open', 1 + i %% 5000,
                      0.62, 'bench_ceiling'
               FROM generate_series(1, %s) AS i""",
            (gate_id, compound_id, n),
        )
        conn.commit()
        seconds = time.perf_counter() - start
        conn.execute("DELETE FROM access_event WHERE reason = 'bench_ceiling'")
        conn.commit()
    return n / seconds
