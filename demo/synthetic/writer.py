"""COPY frames into PostgreSQL as CSV (empty field = NULL), and keep identity sequences in step.

The one table counted in hundreds of millions of rows at city scale, ``utility_reading``, goes in as binary
COPY built by numpy (no per-row Python, no text formatting) with its keys dropped for the load and rebuilt
after it (PostgreSQL's "Populating a Database": one sort builds the primary key, one anti-join checks the
foreign key, instead of a B-tree insert and a trigger per row).
"""
from __future__ import annotations

import io
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg

CHUNK = 200_000


def copy_frame(cur: psycopg.Cursor, table: str, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> int:
    """COPY a DataFrame whose columns are named like the table's; NaN/None/NA become NULL."""
    columns = list(columns or frame.columns)
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
        for start in range(0, len(frame), CHUNK):
            buf = io.StringIO()
            frame.iloc[start:start + CHUNK][columns].to_csv(buf, header=False, index=False, na_rep="")
            copy.write(buf.getvalue())
    return len(frame)


def reset_sequences(cur: psycopg.Cursor, tables: Sequence[str]) -> None:
    """After COPY with explicit ids, move each table's id sequence past them."""
    for table in tables:
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )


def nullable_ids(values: np.ndarray) -> pd.Series:
    """Generated id arrays use 0 for "none"; the table wants NULL."""
    values = values.astype(np.int64)
    series = pd.Series(values, dtype="Int64")
    series[values == 0] = pd.NA
    return series


def events_csv_frame(events: pd.DataFrame, event_ids: np.ndarray) -> pd.DataFrame:
    """The access_event columns as CSV-ready values."""
    ts = np.datetime_as_string(events["ts_ms"].to_numpy().astype(np.int64).astype("datetime64[ms]"), unit="ms")
    return pd.DataFrame({
        "event_id": event_ids,
        "ts": np.char.add(ts.astype(str), "Z"),
        "gate_id": events["gate_id"].to_numpy().astype(np.int64),
        "compound_id": nullable_ids(events["compound_id"].to_numpy()).array,
        "key_site_id": nullable_ids(events["key_site_id"].to_numpy()).array,
        "direction": events["direction"].to_numpy(),
        "method": events["method"].to_numpy(),
        "result": events["result"].to_numpy(),
        "person_id": nullable_ids(events["person_id"].to_numpy()).array,
        "pass_id": events["pass_id"].to_numpy(),
        "stranger_id": events["stranger_id"].to_numpy(),
        "score": events["score"].to_numpy(),
        "reason": events["reason"].to_numpy(),
    })


def copy_events(cur: psycopg.Cursor, frame: pd.DataFrame) -> tuple[int, float]:
    """COPY the events; returns (rows, seconds spent in COPY) for the seeding benchmark."""
    started = time.perf_counter()
    rows = copy_frame(cur, "access_event", frame)
    return rows, time.perf_counter() - started


@dataclass
class UtilityReadings:
    """Daily readings as one (dwelling × day) array per kind: 100 M rows at city scale fit in a few GB."""

    dwelling_id: np.ndarray            # (n,) int
    account_name: np.ndarray           # (n,) str, or None/NaN where nobody lives
    days: np.ndarray                   # (d,) datetime64[D]
    values: dict[str, np.ndarray]      # kind → (n, d) float

    @property
    def rows(self) -> int:
        return len(self.dwelling_id) * len(self.days) * len(self.values)


_PG_EPOCH = np.datetime64("2000-01-01", "D")
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_BINARY_TRAILER = struct.pack(">h", -1)
UTILITY_CHUNK_DWELLINGS = 20_000


def _utility_binary(r: UtilityReadings, start: int, stop: int) -> Iterator[bytes]:
    """COPY BINARY tuples of dwellings [start, stop): per kind, per account-name length, one numpy record array.

    A tuple is (int16 field count, then per field int32 length + bytes, big-endian): int4 dwelling_id,
    the enum's label, date as days since 2000-01-01, float4 value, varchar name (length -1: NULL).
    """
    ids = r.dwelling_id[start:stop].astype(">i4")
    day_numbers = (r.days.astype("datetime64[D]") - _PG_EPOCH).astype(">i4")
    names = [v.encode() if isinstance(v, str) else None for v in r.account_name[start:stop]]
    lengths = np.array([-1 if v is None else len(v) for v in names])
    for kind, values in r.values.items():
        label = kind.encode()
        block = values[start:stop].astype(">f4")
        for m in np.unique(lengths):
            rows = np.flatnonzero(lengths == m)
            fields = [("nf", ">i2"), ("l1", ">i4"), ("did", ">i4"), ("l2", ">i4"), ("kind", f"S{len(label)}"), ("l3", ">i4"),
                      ("day", ">i4"), ("l4", ">i4"), ("val", ">f4"), ("l5", ">i4")]
            if m > 0:
                fields.append(("name", f"S{m}"))
            rec = np.empty((len(rows), len(day_numbers)), dtype=np.dtype(fields))
            rec["nf"], rec["l1"], rec["l2"], rec["kind"], rec["l3"], rec["l4"], rec["l5"] = 5, 4, len(label), label, 4, 4, m
            rec["did"] = ids[rows][:, None]
            rec["day"] = day_numbers[None, :]
            rec["val"] = block[rows]
            if m > 0:
                rec["name"] = np.array([names[i] for i in rows], dtype=f"S{m}")[:, None]
            yield rec.tobytes()


def copy_utilities(cur: psycopg.Cursor, readings: UtilityReadings) -> tuple[int, float]:
    """All readings into ``utility_reading`` (emptied by the seed's TRUNCATE in this transaction) and their
    series' figures into ``utility_baseline``; (rows, seconds).

    Its primary key, unique constraints, foreign keys and other indexes are dropped for the load and made
    again from their own definitions (pg_get_constraintdef, pg_indexes), so the schema after the load is
    the migrations' own. FREEZE writes the rows already frozen: the first reader does not rewrite every page
    to set hint bits (PostgreSQL allows it because the table was truncated in this transaction).
    """
    started = time.perf_counter()
    constraints = cur.execute(
        """SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint
           WHERE conrelid = 'utility_reading'::regclass AND contype IN ('p', 'u', 'f')
           ORDER BY contype = 'f' DESC, conname""").fetchall()
    indexes = cur.execute(
        """SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = current_schema() AND tablename = 'utility_reading'
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = to_regclass(quote_ident(i.indexname)))""").fetchall()
    for name, _, _ in constraints:  # foreign keys first, then the keys they might lean on
        cur.execute(f'ALTER TABLE utility_reading DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    # The per-statement trigger would hold every row of the load to recompute the series' figures it
    # touched; one recomputation of them all after the load does the same (migration 0015).
    cur.execute("ALTER TABLE utility_reading DISABLE TRIGGER utility_baseline_ins")
    with cur.copy("COPY utility_reading (dwelling_id, kind, day, value, account_name) FROM STDIN (FORMAT binary, FREEZE)") as copy:
        copy.write(_BINARY_HEADER)
        for start in range(0, len(readings.dwelling_id), UTILITY_CHUNK_DWELLINGS):
            for part in _utility_binary(readings, start, start + UTILITY_CHUNK_DWELLINGS):
                copy.write(part)
        copy.write(_BINARY_TRAILER)
    cur.execute("SET LOCAL maintenance_work_mem = '512MB'")  # the key's sort in memory, not in temporary files
    for name, definition, _ in reversed(constraints):  # keys first, then the foreign keys
        cur.execute(f'ALTER TABLE utility_reading ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        cur.execute(definition)
    cur.execute("ALTER TABLE utility_reading ENABLE TRIGGER utility_baseline_ins")
    cur.execute("SELECT gp_utility_baseline_refresh(NULL)")
    return readings.rows, time.perf_counter() - started
