"""Land a batch of gate events in PostGIS: COPY into a staging table, then one statement inserts the
new events into their day partitions and upserts the per-gate per-minute rollups.

Idempotent by construction: ``ON CONFLICT DO NOTHING`` on (event_id, ts) drops redelivered events,
and the rollup and live state count only the rows that INSERT … RETURNING says are new, so a batch
replayed after a crash (committed but not acked) changes nothing.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg


COLUMNS = (
    "event_id", "ts", "gate_id", "compound_id", "key_site_id", "direction", "method", "result",
    "person_id", "pass_id", "stranger_id", "score", "reason",
)

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
  event_id uuid, ts timestamptz, gate_id integer, compound_id integer, key_site_id integer,
  direction text, method text, result text, person_id bigint, pass_id uuid, stranger_id uuid,
  score real, reason text
) ON COMMIT DELETE ROWS
"""

_NEW = """
CREATE TEMP TABLE IF NOT EXISTS ingest_new (
  ts timestamptz, gate_id integer, compound_id integer, direction text, result text, person_id bigint
) ON COMMIT DELETE ROWS
"""

_LAND = """
WITH new AS (
  INSERT INTO access_event (event_id, ts, gate_id, compound_id, key_site_id, direction, method, result,
                            person_id, pass_id, stranger_id, score, reason)
  SELECT event_id, ts, gate_id, compound_id, key_site_id, direction::direction, method::access_method,
         result::access_result, person_id, pass_id, stranger_id, score, reason
  FROM ingest_stage
  ON CONFLICT DO NOTHING
  RETURNING ts, gate_id, compound_id, direction::text, result::text, person_id
)
INSERT INTO ingest_new SELECT * FROM new
"""

_ROLLUP = """
INSERT INTO gate_flow_minute AS g (gate_id, minute, entries, exits, denied)
SELECT gate_id, date_trunc('minute', ts),
       count(*) FILTER (WHERE result = 'open' AND direction = 'in'),
       count(*) FILTER (WHERE result = 'open' AND direction = 'out'),
       count(*) FILTER (WHERE result = 'deny')
FROM ingest_new GROUP BY 1, 2
ON CONFLICT (gate_id, minute) DO UPDATE
  SET entries = g.entries + EXCLUDED.entries, exits = g.exits + EXCLUDED.exits, denied = g.denied + EXCLUDED.denied
"""

# What live state needs of the new rows, aggregated by PostgreSQL rather than row by row in Python.
_SUMMARY = """
SELECT 'flow', gate_id, (extract(epoch FROM ts)::bigint / 60),
       CASE WHEN result = 'deny' THEN 'deny' ELSE direction END, count(*)
FROM ingest_new WHERE ts > now() - interval '60 minutes' GROUP BY 2, 3, 4
UNION ALL
SELECT 'compound', compound_id, 0, '', count(*)
FROM ingest_new WHERE compound_id IS NOT NULL GROUP BY 2
UNION ALL
SELECT 'stored', 0, 0, '', count(*) FROM ingest_new
"""


@dataclass
class LandedSummary:
    """What one batch stored for the first time, aggregated (what live state may count)."""

    stored: int = 0
    flows: list[tuple[int, int, str, int]] = field(default_factory=list)  # gate, epoch minute, in/out/deny, n
    compounds: set[int] = field(default_factory=set)  # compounds with new events (the fast rules look there)


def copy_line(f: Mapping[str, str]) -> str:
    """One validated event (core.events.validate_fields) as a line of COPY text: no objects in between."""
    raw_reason = f.get("reason")
    reason = (
        raw_reason.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        if raw_reason else "\\N"
    )
    return "\t".join((
        f["event_id"], f["ts"], f["gate_id"], f.get("compound_id") or "\\N", f.get("key_site_id") or "\\N",
        f["direction"], f["method"], f["result"], f.get("person_id") or "\\N", f.get("pass_id") or "\\N",
        f.get("stranger_id") or "\\N", f.get("score") or "\\N", reason,
    ))


def land(conn: psycopg.Connection, events: Sequence[Mapping[str, str]]) -> LandedSummary:
    """Write one batch of validated events in one transaction; returns what was new. Raises on any DB
    error (nothing committed then: the caller retries the same batch or dies without acking)."""
    summary = LandedSummary()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_STAGE)
        cur.execute(_NEW)
        with cur.copy(f"COPY ingest_stage ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            copy.write("\n".join(map(copy_line, events)) + "\n")
        cur.execute(_LAND)
        cur.execute(_ROLLUP)
        cur.execute(_SUMMARY)
        for kind, key, value, label, n in cur.fetchall():
            if kind == "flow":
                summary.flows.append((key, value, label, n))
            elif kind == "compound":
                summary.compounds.add(key)
            else:
                summary.stored = n
    return summary


def known_gates(conn: psycopg.Connection) -> dict[int, tuple[int | None, int | None]]:
    """gate id → (compound id, key site id): events from other gates cannot be stored (no rollup row)."""
    with conn.cursor() as cur:
        cur.execute("SELECT id, compound_id, key_site_id FROM gate")
        return {gid: (cid, sid) for gid, cid, sid in cur.fetchall()}


def ensure_partitions(conn: psycopg.Connection, days_back: int, days_ahead: int) -> int:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT gp_ensure_event_partitions((now() AT TIME ZONE 'UTC')::date - %s, (now() AT TIME ZONE 'UTC')::date + %s)",
            (days_back, days_ahead),
        )
        return cur.fetchone()[0]
