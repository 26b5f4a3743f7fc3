"""What a compound's bridge needs to decide without the platform: who may enter, passes, face
galleries, gate keys. Loaded from PostGIS and refreshed every few seconds; when PostgreSQL is
unreachable the last snapshot stays in force, so the gate keeps deciding."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import psycopg

from gate_bridge.matching import Gallery

log = logging.getLogger("gridpulse.bridge")


@dataclass
class PassInfo:
    compound_id: int
    valid_from: dt.datetime
    valid_to: dt.datetime
    entries_allowed: int
    entries_used: int
    revoked: bool


@dataclass
class Snapshot:
    compound_id: int
    allowed: set[int] = field(default_factory=set)
    passes: dict[uuid.UUID, PassInfo] = field(default_factory=dict)
    gates: dict[int, bytes | None] = field(default_factory=dict)  # gate id → sha256 of its key
    gallery: Gallery = field(default_factory=Gallery.empty)
    population: Gallery = field(default_factory=Gallery.empty)
    loaded_at: float = 0.0


_ALLOWED = """
SELECT p.id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
WHERE b.compound_id = %(c)s
UNION
SELECT o.person_id FROM ownership o JOIN dwelling d ON d.id = o.dwelling_id JOIN building b ON b.id = d.building_id
WHERE b.compound_id = %(c)s
UNION
SELECT m.person_id FROM household_member m JOIN household h ON h.id = m.household_id
  JOIN dwelling d ON d.id = h.dwelling_id JOIN building b ON b.id = d.building_id WHERE b.compound_id = %(c)s
UNION
SELECT g.grantee_person_id FROM access_grant g JOIN dwelling d ON d.id = g.dwelling_id JOIN building b ON b.id = d.building_id
WHERE b.compound_id = %(c)s AND g.revoked_at IS NULL AND g.valid_from <= now() AND (g.valid_to IS NULL OR g.valid_to > now())
"""

_PASSES = """
SELECT v.id, b.compound_id, v.valid_from, v.valid_to, v.entries_allowed, v.entries_used, v.revoked_at IS NOT NULL
FROM visitor_pass v JOIN dwelling d ON d.id = v.dwelling_id JOIN building b ON b.id = d.building_id
WHERE b.compound_id = %(c)s AND v.valid_to > now() - interval '1 day'
"""


def load_snapshot(dsn: str, compound_id: int) -> Snapshot:
    with psycopg.connect(dsn, connect_timeout=3) as conn:
        snap = Snapshot(compound_id=compound_id, loaded_at=time.monotonic())
        snap.allowed = {r[0] for r in conn.execute(_ALLOWED, {"c": compound_id})}
        snap.passes = {r[0]: PassInfo(*r[1:]) for r in conn.execute(_PASSES, {"c": compound_id})}
        snap.gates = {r[0]: r[1] for r in conn.execute("SELECT id, key_hash FROM gate WHERE compound_id = %s", (compound_id,))}
        rows = conn.execute(
            "SELECT person_id, embedding FROM face_template WHERE library = 'app' AND person_id = ANY(%s) ORDER BY id",
            (list(snap.allowed),),
        ).fetchall()
        snap.gallery = Gallery.from_rows(rows)
        snap.population = Gallery.from_rows(conn.execute(
            "SELECT person_id, embedding FROM face_template WHERE library = 'population' ORDER BY id").fetchall())
    return snap


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class AccessCache:
    def __init__(self, dsn: str, compound_id: int, refresh_s: float = 5.0) -> None:
        self.dsn, self.compound_id, self.refresh_s = dsn, compound_id, refresh_s
        self.snapshot = load_snapshot(dsn, compound_id)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        try:
            self.snapshot = load_snapshot(self.dsn, self.compound_id)
            return True
        except psycopg.Error as exc:
            log.warning("platform database unreachable (%s): deciding from the snapshot of %.0f s ago",
                        exc, time.monotonic() - self.snapshot.loaded_at)
            return False

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.refresh_s):
                self.refresh()

        self._thread = threading.Thread(target=loop, name="access-cache", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def gate_key_ok(self, gate_id: int, key: str | None) -> bool:
        expected = self.snapshot.gates.get(gate_id)
        return bool(key) and expected is not None and __import__("hmac").compare_digest(expected, key_hash(key))

    def embedding_matrix(self) -> np.ndarray:
        return self.snapshot.gallery.matrix
