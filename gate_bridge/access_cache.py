"""What a compound's bridge needs to decide without the platform: who may enter (and why others may
not), visitor passes, face galleries, gate keys. Loaded from PostGIS and refreshed every few seconds
(GRIDPULSE_BRIDGE_REFRESH_S); when PostgreSQL is unreachable the last snapshot stays in force, so the
gate keeps deciding, and the next refresh after the platform comes back picks up every change.

Who may enter compound C now:
- owners of a dwelling in C;
- people whose home dwelling is in C, and members of a household registered at a dwelling in C;
- grantees of an unrevoked grant for a dwelling in C that is valid now;
- minus lessees of a blacklisted rental in C (unless they own a dwelling there).
Faces: only the compound's own gallery, and only templates a live consent backs (view face_gallery).
People with only a revoked or expired grant, or barred by a blacklist, are kept with that reason so
the gate can say why.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg

from gate_bridge.hamming_index import HammingGallery
from gate_bridge.matching import Gallery
from credentials.reasons import Reason
from core.config import bridge_settings
from blockdata.access_rules import apply_bars

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
    barred: dict[int, Reason] = field(default_factory=dict)  # known here but not allowed, and why
    passes: dict[uuid.UUID, PassInfo] = field(default_factory=dict)
    gates: dict[int, bytes | None] = field(default_factory=dict)  # gate id → sha256 of its key
    gallery: Gallery = field(default_factory=Gallery.empty)
    gallery_version: tuple = ()
    loaded_at: float = 0.0

    def refusal(self, person_id: int | None) -> Reason:
        """Why a person who is not allowed here is refused."""
        return self.barred.get(person_id, Reason.no_access) if person_id is not None else Reason.no_access


# Who may enter and who is refused are the views access_allowed / access_barred (migration 0003),
# shared with the resident services so the gate and the app never disagree.
_ALLOWED = "SELECT person_id, basis FROM access_allowed WHERE compound_id = %(c)s"
_BARRED = "SELECT person_id, reason FROM access_barred WHERE compound_id = %(c)s"

_PASSES = """
SELECT v.id, b.compound_id, v.valid_from, v.valid_to, v.entries_allowed, v.entries_used, v.revoked_at IS NOT NULL
FROM visitor_pass v JOIN dwelling d ON d.id = v.dwelling_id JOIN building b ON b.id = d.building_id AND b.compound_id = %(c)s
WHERE v.valid_to > now() - interval '1 day'
"""

# The gallery is the view face_gallery (migration 0006): app templates backed by a live consent given to a
# published notice. The bridge's database role may read that view, never face_template's app or population rows.
_GALLERY_VERSION = """SELECT count(*), sum(id), sum(row_version), sum(consent_id) FROM face_gallery
                      WHERE person_id = ANY(%s)"""
_GALLERY = "SELECT person_id, embedding FROM face_gallery WHERE person_id = ANY(%s) ORDER BY id"


def load_snapshot(dsn: str, compound_id: int, previous: Snapshot | None = None) -> Snapshot:
    """Read everything the gate needs in one short transaction. The compound's gallery is big and rarely
    changes: it is re-read only when its rows changed (their ids, row versions and consents). The city's
    population library is never loaded here: a bridge searches it only through the narrow, audited call
    of population.py, where its compound has a recorded legal basis."""
    with psycopg.connect(dsn, connect_timeout=3) as conn:
        snap = Snapshot(compound_id=compound_id, loaded_at=time.monotonic())
        allowed, barred = apply_bars(conn.execute(_ALLOWED, {"c": compound_id}).fetchall(),
                                     conn.execute(_BARRED, {"c": compound_id}).fetchall())
        snap.allowed = allowed
        snap.barred = {p: Reason(r) for p, r in barred.items()}
        snap.passes = {r[0]: PassInfo(*r[1:]) for r in conn.execute(_PASSES, {"c": compound_id})}
        snap.gates = {r[0]: r[1] for r in conn.execute("SELECT id, key_hash FROM gate WHERE compound_id = %s", (compound_id,))}
        people = list(snap.allowed)
        snap.gallery_version = tuple(conn.execute(_GALLERY_VERSION, (people,)).fetchone())
        if previous is not None and previous.gallery_version == snap.gallery_version:
            snap.gallery = previous.gallery  # parsing 5,000 embeddings every poll cost the gate its p95
        else:
            snap.gallery = Gallery.from_rows(conn.execute(_GALLERY, (people,)).fetchall())
    return snap


def population_gallery(rows: list[tuple[int, list[float]]]) -> Gallery | HammingGallery:
    """Exact search for a small library; the sign-bit index once it is large enough to pay (a population
    search service of its own would use it; the bridge no longer holds the library)."""
    gallery = Gallery.from_rows(rows)
    if len(gallery) >= bridge_settings().hamming_min_templates:
        return HammingGallery(gallery.person_ids, gallery.matrix)
    return gallery


def key_hash(key: str) -> bytes:
    """What the gate table stores of a device key (the key itself is shown once, never stored)."""
    return hashlib.sha256(key.encode()).digest()


class AccessCache:
    """The compound's snapshot, reloaded within about a second of a change (PostgreSQL NOTIFY on
    gp_access_changed, sent by triggers on grants, passes, ownership, rentals and app face templates)
    and every ``refresh_s`` seconds besides, for what changes with the clock (a grant's end) and for
    whatever a lost LISTEN connection missed."""

    CHANNEL = "gp_access_changed"

    def __init__(self, dsn: str, compound_id: int, refresh_s: float | None = None) -> None:
        self.dsn, self.compound_id = dsn, compound_id
        self.refresh_s = refresh_s if refresh_s is not None else bridge_settings().refresh_s
        self.snapshot = load_snapshot(dsn, compound_id)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self.notified = 0  # notifications for this compound received (health and tests)

    def refresh(self) -> bool:
        try:
            self.snapshot = load_snapshot(self.dsn, self.compound_id, self.snapshot)
            return True
        except psycopg.Error as exc:
            log.warning("platform database unreachable (%s): deciding from the snapshot of %.0f s ago",
                        exc, time.monotonic() - self.snapshot.loaded_at)
            return False

    def start(self) -> None:
        for target, name in ((self._refresh_loop, "access-cache"), (self._listen_loop, "access-listen")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.refresh_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.refresh()

    def _listen_loop(self) -> None:
        """LISTEN on a connection of its own; after losing it, reconnect and reload once (a change
        may have been missed meanwhile)."""
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {self.CHANNEL}")
                    self._wake.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.payload in ("*", str(self.compound_id)):
                                self.notified += 1
                                self._wake.set()
            except psycopg.Error as exc:
                log.warning("LISTEN %s lost (%s); polling every %.0f s until it is back", self.CHANNEL, exc, self.refresh_s)
                self._stop.wait(2.0)

    def age_s(self) -> float:
        return time.monotonic() - self.snapshot.loaded_at

    def gate_key_ok(self, gate_id: int, key: str | None) -> bool:
        expected = self.snapshot.gates.get(gate_id)
        return bool(key) and expected is not None and hmac.compare_digest(expected, key_hash(key))
