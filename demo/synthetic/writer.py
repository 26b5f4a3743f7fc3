"""COPY frames into PostgreSQL as CSV (empty field = NULL), and keep identity sequences in step."""
from __future__ import annotations

import io
import time
from collections.abc import Sequence

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
