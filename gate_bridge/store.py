"""The few writes a gate makes to PostGIS itself (all reads come from the access snapshot).

Visitor-pass entries are counted in the database so that every gate agrees and a revocation a moment
ago wins; unknown faces are kept as pseudonymous stranger templates. One reused connection, dropped and
reopened after an error so that a platform restart heals by itself; a lost platform is reported as
``PlatformUnreachable`` and the policy decides on what it has.
"""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass

import numpy as np
import psycopg


class PlatformUnreachable(Exception):
    """PostGIS cannot be reached: the gate keeps deciding from its snapshot."""


@dataclass(frozen=True)
class PassCount:
    """The outcome of counting one visitor entry: ``entries_used`` after it, or why it was not counted."""

    entries_used: int | None
    revoked: bool = False


class GateStore:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, connect_timeout=2, autocommit=True)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def count_visitor_entry(self, pass_id: uuid.UUID) -> PassCount:
        """Count one entry on a pass that is neither revoked nor used up; otherwise say which it is."""
        with self._lock:
            try:
                conn = self._connection()
                row = conn.execute(
                    """UPDATE visitor_pass SET entries_used = entries_used + 1
                       WHERE id = %s AND revoked_at IS NULL AND entries_used < entries_allowed RETURNING entries_used""",
                    (pass_id,),
                ).fetchone()
                if row is not None:
                    return PassCount(row[0])
                revoked = conn.execute("SELECT revoked_at IS NOT NULL FROM visitor_pass WHERE id = %s", (pass_id,)).fetchone()
                return PassCount(None, revoked=bool(revoked and revoked[0]))
            except psycopg.OperationalError:
                self._drop()
                raise PlatformUnreachable from None

    def strangers(self, compound_id: int, now: dt.datetime) -> list[tuple[uuid.UUID, list[float]]]:
        """The compound's stranger templates still within retention: (pseudonym, embedding)."""
        with self._lock:
            try:
                return [(r[0], r[1]) for r in self._connection().execute(
                    """SELECT stranger_id, embedding FROM face_template
                       WHERE library = 'stranger' AND compound_id = %s AND expires_at > %s""",
                    (compound_id, now),
                ).fetchall()]
            except psycopg.OperationalError:
                self._drop()
                raise PlatformUnreachable from None

    def add_stranger(self, compound_id: int, model_version: str, embedding: np.ndarray,
                     expires_at: dt.datetime) -> uuid.UUID:
        """Keep an unknown face's template (never the photo) under a new pseudonym until ``expires_at``."""
        stranger = uuid.uuid4()
        with self._lock:
            try:
                self._connection().execute(
                    """INSERT INTO face_template (stranger_id, library, compound_id, model_version, embedding, expires_at)
                       VALUES (%s, 'stranger', %s, %s, %s, %s)""",
                    (stranger, compound_id, model_version, [float(x) for x in embedding], expires_at),
                )
            except psycopg.OperationalError:
                self._drop()
                raise PlatformUnreachable from None
        return stranger
