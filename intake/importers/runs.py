"""Import runs: each applied import recorded (who, file, counts, what it wrote) and reversible.

While an importer runs, the session's flushes are watched: every row it inserts is noted by table
and primary key, and every row an upsert changes keeps its columns' values from before. Rows written
outside the ORM (the buildings' COPY) are added by the importer. ``record`` stores this as one
``import_run`` row and one ``import`` audit entry in the import's own transaction.

``undo`` takes a run back — restores what it changed, deletes what it created — but only while
nothing depends on it: a row of another run (or typed by hand) that refers to a row the run created,
such as a dwelling in one of its buildings or a tag on one of its people, makes the undo refuse with
a line that says what depends on what, and nothing is changed. Without this check the database's
``ON DELETE CASCADE`` would silently take those rows with it.
"""
from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoalchemy2.elements import WKBElement
from sqlalchemy import event, inspect, select, text
from sqlalchemy.orm import Session

from blockdata import audit
from blockdata.models import Base, ImportRun
from core.errors import InvalidInput, NotFound
from core.viewer import Viewer


@dataclass
class Changes:
    """Rows created (table → primary keys) and changed (table → [(primary key, values before)])."""

    created: dict[str, list[list[Any]]] = field(default_factory=dict)
    updated: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add_created(self, table: str, keys: list[Any]) -> None:
        self.created.setdefault(table, []).extend(k if isinstance(k, list) else [k] for k in keys)

    def counts(self) -> dict[str, dict[str, int]]:
        return {"created": {t: len(v) for t, v in self.created.items()},
                "updated": {t: len(v) for t, v in self.updated.items()}}


def _plain(value: Any) -> Any:
    """A column value as JSON (geometry as EWKB hex, enums by value, dates as ISO)."""
    if isinstance(value, WKBElement):
        return {"ewkb": bytes(value.data).hex(), "srid": value.srid}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, memoryview)):
        return {"hex": bytes(value).hex()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _key(obj: Any) -> list[Any]:
    return [_plain(v) for v in inspect(obj).identity]


_NOT_TRACKED = {"audit_log", "import_run"}  # the record of what happened is never undone


@contextmanager
def tracking(session: Session) -> Iterator[Changes]:
    """Note every row the session inserts and every row it changes while the block runs."""
    changes = Changes()

    def before_flush(sess: Session, _ctx: Any, _instances: Any) -> None:
        for obj in sess.dirty:
            state = inspect(obj)
            if state.identity is None or not sess.is_modified(obj) or state.mapper.local_table.name in _NOT_TRACKED:
                continue
            before: dict[str, Any] = {}
            for attr in state.mapper.column_attrs:
                hist = state.attrs[attr.key].history
                if hist.has_changes() and hist.deleted:
                    before[attr.columns[0].name] = _plain(hist.deleted[0])
            if before:
                changes.updated.setdefault(state.mapper.local_table.name, []).append(
                    {"key": [_plain(v) for v in state.identity], "before": before})

    def after_flush(sess: Session, _ctx: Any) -> None:
        for obj in sess.new:
            state = inspect(obj)
            if state.mapper.local_table.name in _NOT_TRACKED:
                continue
            changes.created.setdefault(state.mapper.local_table.name, []).append(
                [_plain(v) for v in state.mapper.primary_key_from_instance(obj)])

    event.listen(session, "before_flush", before_flush)
    event.listen(session, "after_flush", after_flush)
    try:
        yield changes
    finally:
        event.remove(session, "before_flush", before_flush)
        event.remove(session, "after_flush", after_flush)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record(session: Session, ctx: Any, *, path: Path, viewer: Viewer, changes: Changes) -> ImportRun:
    """The applied run and its audit entry, in the import's transaction (both or neither)."""
    # Rows that were created and then changed in the same run are simply created: nothing to restore.
    for table, rows in list(changes.updated.items()):
        made = {tuple(k) for k in changes.created.get(table, [])}
        kept = [r for r in rows if tuple(r["key"]) not in made]
        firsts: dict[tuple, dict] = {}
        for r in kept:  # the first "before" of a row is the one from before the run
            firsts.setdefault(tuple(r["key"]), r)
        changes.updated[table] = list(firsts.values())
        if not changes.updated[table]:
            del changes.updated[table]
    report = ctx.report
    counts = {"rows": report.rows, "written": report.summary.get("written", 0), **changes.counts()}
    run = ImportRun(id=ctx.run_id, kind=report.kind, source=path.name, file_sha256=file_digest(path),
                    mode=ctx.options.mode, account_id=viewer.account_id, username=viewer.username, counts=counts,
                    created=changes.created, updated=changes.updated)
    session.add(run)
    session.flush()
    audit.record(session, viewer, "import", f"import:{report.kind}", file=path.name, rows=report.rows,
                 written=counts["written"], import_run=str(ctx.run_id), mode=ctx.options.mode)
    return run


# --- undo -----------------------------------------------------------------------------------------


def _table(name: str):  # noqa: ANN202 - a sqlalchemy Table
    return Base.metadata.tables[name]


def _pk_match(session: Session, table: Any, keys: list[list[Any]]) -> tuple[str, dict[str, Any]]:
    """The rows of ``table`` with these primary keys, as SQL text and parameters."""
    cols = list(table.primary_key.columns)
    dialect = session.get_bind().dialect
    if len(cols) == 1:
        return f"{cols[0].name} = ANY(:pks)", {"pks": [k[0] for k in keys]}
    params: dict[str, Any] = {}
    rows = []
    for i, key in enumerate(keys):
        names = []
        for j, value in enumerate(key):
            params[f"k{i}_{j}"] = value
            names.append(f"CAST(:k{i}_{j} AS {cols[j].type.compile(dialect=dialect)})")
        rows.append(f"({', '.join(names)})")
    return f"({', '.join(c.name for c in cols)}) IN ({', '.join(rows)})", params


def _dependents(session: Session, run: ImportRun) -> list[str]:
    """What refers to a row the run created and was not itself created by the run."""
    problems: list[str] = []
    created = {t: keys for t, keys in run.created.items() if keys}
    for parent_name, keys in created.items():
        parent = _table(parent_name)
        if len(parent.primary_key.columns) != 1:
            continue  # composite keys (tags, readings) are leaves: nothing refers to them
        ids = [k[0] for k in keys]
        for child in Base.metadata.sorted_tables:
            for fk in child.foreign_keys:
                if fk.column.table is not parent or child.schema:
                    continue
                col = fk.parent.name
                own = [k for k in run.created.get(child.name, [])]
                sql = f"SELECT count(*) FROM {child.name} WHERE {col} = ANY(:ids)"
                params: dict[str, Any] = {"ids": ids}
                if own:
                    match, more = _pk_match(session, child, own)
                    sql += f" AND NOT {match}"
                    params.update(more)
                n = session.execute(text(sql), params).scalar_one()
                if n:
                    problems.append(f"{n} {child.name} row(s) refer to its {parent_name} ({child.name}.{col})")
    return problems


def _restore(session: Session, table_name: str, rows: list[dict[str, Any]]) -> None:
    table = _table(table_name)
    for row in rows:
        sets, params = [], {}
        for i, (col, value) in enumerate(row["before"].items()):
            if isinstance(value, dict) and "ewkb" in value:
                sets.append(f"{col} = ST_GeomFromEWKB(decode(:v{i}, 'hex'))")
                params[f"v{i}"] = value["ewkb"]
            else:
                sets.append(f"{col} = CAST(:v{i} AS {table.c[col].type.compile(dialect=session.get_bind().dialect)})")
                params[f"v{i}"] = value
        match, more = _pk_match(session, table, [row["key"]])
        session.execute(text(f"UPDATE {table_name} SET {', '.join(sets)} WHERE {match}"), {**params, **more})


def get_run(session: Session, run_id: str) -> ImportRun:
    try:
        key = uuid.UUID(str(run_id))
    except ValueError:
        matches = list(session.scalars(select(ImportRun).where(text("id::text LIKE :p")), {"p": f"{run_id}%"}))
        if len(matches) != 1:
            raise NotFound(f"no single import run starts with {run_id!r} (gridpulse import runs lists them)",
                           record="RUN") from None
        return matches[0]
    run = session.get(ImportRun, key)
    if run is None:
        raise NotFound(f"no import run {run_id} (gridpulse import runs lists them)", record="RUN")
    return run


def undo(session: Session, run_id: str, viewer: Viewer) -> ImportRun:
    """Take an applied run back, or refuse (nothing changed) when other data depends on it."""
    run = get_run(session, run_id)
    record_ = f"import run {run.id}"
    if run.undone_at is not None:
        raise InvalidInput(f"already undone by {run.undone_by} at {run.undone_at:%Y-%m-%d %H:%M}", record=record_)
    blockers = _dependents(session, run)
    if blockers:
        raise InvalidInput("cannot undo, other data depends on it: " + "; ".join(blockers)
                           + " — undo or remove those first", record=record_)
    for table_name, rows in run.updated.items():
        _restore(session, table_name, rows)
    order = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in run.created]
    for table_name in order:  # children before parents
        keys = run.created[table_name]
        for start in range(0, len(keys), 1000):
            match, params = _pk_match(session, _table(table_name), keys[start:start + 1000])
            session.execute(text(f"DELETE FROM {table_name} WHERE {match}"), params)
    run.undone_at = dt.datetime.now(dt.timezone.utc)
    run.undone_by = viewer.username
    session.flush()
    audit.record(session, viewer, "import.undo", f"import:{run.kind}", file=run.source, import_run=str(run.id),
                 deleted={t: len(k) for t, k in run.created.items()}, restored={t: len(r) for t, r in run.updated.items()})
    return run


def list_runs(session: Session, limit: int = 50) -> list[ImportRun]:
    return list(session.scalars(select(ImportRun).order_by(ImportRun.created_at.desc()).limit(limit)))
