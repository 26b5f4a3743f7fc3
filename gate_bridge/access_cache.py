"""What a compound's bridge needs to decide without the platform: who may enter (and why others may
not), visitor passes, face galleries, gate keys. Loaded from PostGIS and refreshed every few seconds
(GRIDPULSE_BRIDGE_REFRESH_S); when PostgreSQL is unreachable the last snapshot stays in force, so the
gate keeps deciding, and the next refresh after the platform comes back picks up every change.

Who may enter compound C now:
- owners of a dwelling in C;
- people whose home dwelling is in C, and members of a household registered at a dwelling in C;
- grantees of an unrevoked grant for a dwelling in C that is valid now;
- minus lessees of a blacklisted rental in C (unless they own a dwelling there).
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

from gate_bridge.matching import Gallery
from gate_bridge.reasons import Reason
from gate_bridge.settings import bridge_settings

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
    population: Gallery = field(default_factory=Gallery.empty)
    population_version: tuple = ()
    loaded_at: float = 0.0

    def refusal(self, person_id: int | None) -> Reason:
        """Why a person who is not allowed here is refused."""
        return self.barred.get(person_id, Reason.no_access) if person_id is not None else Reason.no_access


_IN_COMPOUND = "JOIN dwelling d ON d.id = {t}.dwelling_id JOIN building b ON b.id = d.building_id AND b.compound_id = %(c)s"

_ALLOWED = f"""
SELECT o.person_id, 'owner' FROM ownership o {_IN_COMPOUND.format(t='o')}
UNION
SELECT p.id, 'resident' FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id
  JOIN building b ON b.id = d.building_id AND b.compound_id = %(c)s
UNION
SELECT m.person_id, 'household' FROM household_member m JOIN household h ON h.id = m.household_id {_IN_COMPOUND.format(t='h')}
UNION
SELECT g.grantee_person_id, 'grant' FROM access_grant g {_IN_COMPOUND.format(t='g')}
WHERE g.revoked_at IS NULL AND g.valid_from <= now() AND (g.valid_to IS NULL OR g.valid_to > now())
"""

_BARRED = f"""
SELECT g.grantee_person_id, CASE WHEN g.revoked_at IS NOT NULL THEN 'grant_revoked' ELSE 'grant_expired' END
FROM access_grant g {_IN_COMPOUND.format(t='g')}
WHERE NOT (g.revoked_at IS NULL AND g.valid_from <= now() AND (g.valid_to IS NULL OR g.valid_to > now()))
UNION ALL
SELECT r.lessee_person_id, 'blacklisted' FROM rental r {_IN_COMPOUND.format(t='r')}
WHERE r.blacklisted AND (r.end_date IS NULL OR r.end_date >= current_date)
"""

_PASSES = f"""
SELECT v.id, b.compound_id, v.valid_from, v.valid_to, v.entries_allowed, v.entries_used, v.revoked_at IS NOT NULL
FROM visitor_pass v {_IN_COMPOUND.format(t='v')}
WHERE v.valid_to > now() - interval '1 day'
"""

_POPULATION_VERSION = "SELECT count(*), max(id), max(created_at) FROM face_template WHERE library = 'population'"


def load_snapshot(dsn: str, compound_id: int, previous: Snapshot | None = None) -> Snapshot:
    """Read everything the gate needs in one short transaction. The city population library is large
    and rarely changes: it is reloaded only when its row count, newest id or newest row changed."""
    with psycopg.connect(dsn, connect_timeout=3) as conn:
        snap = Snapshot(compound_id=compound_id, loaded_at=time.monotonic())
        bases: dict[int, set[str]] = {}
        for person_id, basis in conn.execute(_ALLOWED, {"c": compound_id}):
            bases.setdefault(person_id, set()).add(basis)
        barred: dict[int, Reason] = {}
        for person_id, reason in conn.execute(_BARRED, {"c": compound_id}):
            if reason == Reason.blacklisted.value or person_id not in barred:
                barred[person_id] = Reason(reason)
        for person_id, reason in barred.items():
            if reason is Reason.blacklisted and "owner" not in bases.get(person_id, set()):
                bases.pop(person_id, None)  # a barred rental overrides the tenancy it came with
        snap.allowed = set(bases)
        snap.barred = {p: r for p, r in barred.items() if p not in snap.allowed}
        snap.passes = {r[0]: PassInfo(*r[1:]) for r in conn.execute(_PASSES, {"c": compound_id})}
        snap.gates = {r[0]: r[1] for r in conn.execute("SELECT id, key_hash FROM gate WHERE compound_id = %s", (compound_id,))}
        snap.gallery = Gallery.from_rows(conn.execute(
            "SELECT person_id, embedding FROM face_template WHERE library = 'app' AND person_id = ANY(%s) ORDER BY id",
            (list(snap.allowed),),
        ).fetchall())
        snap.population_version = tuple(conn.execute(_POPULATION_VERSION).fetchone())
        if previous is not None and previous.population_version == snap.population_version:
            snap.population = previous.population
        else:
            snap.population = Gallery.from_rows(conn.execute(
                "SELECT person_id, embedding FROM face_template WHERE library = 'population' ORDER BY id").fetchall())
    return snap


def key_hash(key: str) -> bytes:
    """What the gate table stores of a device key (the key itself is shown once, never stored)."""
    return hashlib.sha256(key.encode()).digest()


class AccessCache:
    def __init__(self, dsn: str, compound_id: int, refresh_s: float | None = None) -> None:
        self.dsn, self.compound_id = dsn, compound_id
        self.refresh_s = refresh_s if refresh_s is not None else bridge_settings().refresh_s
        self.snapshot = load_snapshot(dsn, compound_id)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        try:
            self.snapshot = load_snapshot(self.dsn, self.compound_id, self.snapshot)
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

    def age_s(self) -> float:
        return time.monotonic() - self.snapshot.loaded_at

    def gate_key_ok(self, gate_id: int, key: str | None) -> bool:
        expected = self.snapshot.gates.get(gate_id)
        return bool(key) and expected is not None and hmac.compare_digest(expected, key_hash(key))
