"""`gridpulse simulate`: the demo street's residents passing their gates, live, through the real bridge.

Each simulated minute, the expected number of people leaving and coming home is read off the same
daily rhythm the seeder uses, scaled by --speed, and drawn among the residents at home or out. Every
entry goes through a compound's real gate policy in process: most residents who enrolled a face send
their template as a smart terminal would (their enrolled template plus capture noise), others scan a
freshly signed resident QR code or tap a card; couriers are registered by the guard; unknown faces
are refused (and kept as stranger templates); key-site counters count. A share of entries, where the
shared test photos are present, goes through the full face pipeline on real photos.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import text

from blockdata.consents import record_enrolment_consents
from core.config import Settings, load_secrets, local_tz, resident_settings, settings
from core.events import GateEvent, uuid7
from demo.live_anomalies import LiveInjector
from gate_bridge.policy import GatePolicy
from credentials.qr_codes import resident_code, visitor_code
from gate_bridge.service import build_policy
from blockdata.db import raw_connection, transaction

log = logging.getLogger("gridpulse.simulate")
MODEL_VERSION = "w600k_mbf"

# Expected share of a role's people leaving / returning per hour of the local day (weekday).
_OUT = {
    "commuter": [0, 0, 0, 0, 0, 0, 0.05, 0.45, 0.4, 0.05, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0, 0, 0, 0, 0, 0],
    "student": [0, 0, 0, 0, 0, 0, 0.1, 0.85, 0.03, 0, 0, 0, 0.01, 0, 0, 0, 0, 0.01, 0, 0, 0, 0, 0, 0],
    "elderly": [0, 0, 0, 0, 0, 0, 0.05, 0.15, 0.25, 0.25, 0.15, 0.05, 0.02, 0.03, 0.03, 0.02, 0, 0, 0, 0, 0, 0, 0, 0],
    "other": [0, 0, 0, 0, 0, 0, 0, 0.02, 0.05, 0.12, 0.12, 0.1, 0.08, 0.1, 0.12, 0.1, 0.08, 0.06, 0.03, 0.02, 0, 0, 0, 0],
}
_BACK = {
    "commuter": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.02, 0.02, 0.02, 0.02, 0.05, 0.2, 0.35, 0.2, 0.08, 0.03, 0.01, 0],
    "student": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.05, 0, 0, 0.1, 0.35, 0.4, 0.08, 0.02, 0, 0, 0, 0],
    "elderly": [0, 0, 0, 0, 0, 0, 0, 0, 0.05, 0.15, 0.25, 0.25, 0.15, 0.05, 0.03, 0.03, 0.02, 0.02, 0, 0, 0, 0, 0, 0],
    "other": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0.03, 0.07, 0.1, 0.1, 0.1, 0.1, 0.12, 0.12, 0.12, 0.1, 0.08, 0.04, 0.02, 0, 0],
}


@dataclass
class Resident:
    person_id: int
    compound_id: int
    role: str
    inside: bool
    template: np.ndarray | None = None
    photos: list[Path] | None = None  # real photos of a stand-in face: entries go through the photo pipeline
    elderly_alone: bool = False
    supervised: bool = False
    floating: bool = False


@dataclass
class Visit:
    pass_id: uuid.UUID
    compound_id: int
    leave_at: float  # simulated minutes since start


def _owners_by_compound() -> dict[int, list[tuple[int, int]]]:
    with transaction() as s:
        rows = s.execute(text(
            """SELECT b.compound_id, o.dwelling_id, o.person_id FROM ownership o JOIN dwelling d ON d.id = o.dwelling_id
               JOIN building b ON b.id = d.building_id WHERE b.compound_id IS NOT NULL ORDER BY o.id""")).all()
    owners: dict[int, list[tuple[int, int]]] = {}
    for cid, dwelling_id, person_id in rows:
        owners.setdefault(cid, []).append((dwelling_id, person_id))
    return owners


def load_street() -> tuple[list[Resident], dict[int, list[int]], list[tuple[int, int]]]:
    """Residents with their compound and a role from age; gates per compound; key-site counter gates."""
    with transaction() as s:
        rows = s.execute(text(
            """SELECT p.id, b.compound_id, date_part('year', age(p.birth_date))::int AS age,
                      EXISTS (SELECT 1 FROM person_tag t WHERE t.person_id = p.id AND t.tag = 'student') AS student,
                      EXISTS (SELECT 1 FROM person_tag t WHERE t.person_id = p.id AND t.tag = 'elderly_alone') AS alone,
                      EXISTS (SELECT 1 FROM person_tag t WHERE t.person_id = p.id AND t.tag = 'community_correction'
                              AND t.legal_basis_expiry >= current_date) AS supervised,
                      p.residence_kind = 'floating' AS floating
               FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
               WHERE b.compound_id IS NOT NULL ORDER BY p.id""")).all()
        gates: dict[int, list[int]] = {}
        for gid, cid in s.execute(text("SELECT id, compound_id FROM gate WHERE compound_id IS NOT NULL ORDER BY id")):
            gates.setdefault(cid, []).append(gid)
        counters = [tuple(r) for r in s.execute(text("SELECT id, key_site_id FROM gate WHERE key_site_id IS NOT NULL ORDER BY id"))]
    residents = []
    for pid, cid, age, student, alone, supervised, floating in rows:
        role = "student" if student else "elderly" if age >= 65 else "commuter" if 22 <= age < 60 else "other"
        residents.append(Resident(pid, cid, role, inside=True, elderly_alone=alone, supervised=supervised, floating=floating))
    return residents, gates, counters


def enroll_app_users(residents: list[Resident], share: float, seed: int) -> int:
    """Give a share of residents a face template in the app library (with consent), as enrolment would.

    The simulator has no photos of synthetic people, so the template is a random unit vector kept
    per person; what the gate receives is that template plus capture noise, as a smart terminal sends.
    Templates already in the database are reused, so restarts keep the same faces."""
    rng = np.random.default_rng(seed)
    chosen = [r for r in residents if rng.random() < share]
    with raw_connection() as conn:
        existing = dict(conn.execute(
            "SELECT person_id, embedding FROM face_template WHERE library = 'app' AND person_id = ANY(%s)",
            ([r.person_id for r in chosen],)).fetchall())
        new = []
        for r in chosen:
            if r.person_id in existing:
                r.template = np.asarray(existing[r.person_id], dtype=np.float32)
            else:
                v = rng.normal(size=512).astype(np.float32)
                r.template = v / np.linalg.norm(v)
                new.append(r)
        with conn.cursor() as cur, cur.copy(
            "COPY face_template (person_id, library, model_version, embedding, consent_at) FROM STDIN"
        ) as copy:
            for r in new:
                copy.write_row((r.person_id, "app", MODEL_VERSION, [float(x) for x in r.template], dt.datetime.now(dt.timezone.utc)))
        # enrolled at the compound's desk under the published notice: recorded, or the template opens nothing
        record_enrolment_consents(conn, [r.person_id for r in chosen], resident_settings().consent_notice_version)
        conn.commit()
    return len(new)


def photo_stand_ins(residents: list[Resident], faces_dir: Path, pipeline, limit: int = 20) -> int:  # noqa: ANN001
    """Lend real test faces (read in place, never copied) to a few residents without a template: the first
    photo enrols them, the others are what the gate camera sees. Returns how many were lent."""
    identities = [d for d in sorted(faces_dir.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2][:limit]
    takers = [r for r in residents if r.template is None][: len(identities)]
    from credentials.face_pipeline import decode

    from credentials.face_pipeline import FaceRejected

    lent = 0
    with raw_connection() as conn:
        for r, folder in zip(takers, identities):
            photos = sorted(folder.glob("*.jpg"))
            for i, photo in enumerate(photos[:-1]):  # enrol from the first photo good enough to enrol
                try:
                    r.template = pipeline.template(decode(photo.read_bytes())).embedding
                except FaceRejected:
                    continue
                r.photos = photos[:i] + photos[i + 1:]
                break
            if r.template is None:
                continue
            lent += 1
            conn.execute(
                "INSERT INTO face_template (person_id, library, model_version, embedding, consent_at) VALUES (%s, 'app', %s, %s, now())",
                (r.person_id, MODEL_VERSION, [float(x) for x in r.template]))
            record_enrolment_consents(conn, [r.person_id], resident_settings().consent_notice_version)
        conn.commit()
    return lent


class Simulator:
    def __init__(self, cfg: Settings | None = None, *, speed: float = 1.0, seed: int | None = None,
                 face_share: float = 0.4, outbox_dir: Path | None = None, faces_dir: Path | None = None,
                 inject_every_sim_minutes: float | None = None) -> None:
        self.cfg = cfg or settings()
        self.speed = speed
        self.rng = np.random.default_rng(seed)
        self.residents, self.gates, self.counters = load_street()
        self.enrolled = enroll_app_users(self.residents, face_share, seed or 0)
        self.pipeline = None
        if faces_dir is not None and faces_dir.is_dir():
            from credentials.face_pipeline import shared_pipeline

            self.pipeline = shared_pipeline()
            self.enrolled += photo_stand_ins(self.residents, faces_dir, self.pipeline)
        outbox_dir = outbox_dir or self.cfg.key_file.parent
        # the simulator plays the platform too (it signs residents' codes), so it holds the platform's key
        # file; a real bridge holds only its own (core/keys.py)
        secrets = load_secrets()
        public_keys = {secrets.qr_key_id: secrets.qr_signing_key.public_key()}
        self.policies: dict[int, GatePolicy] = {
            cid: build_policy(cid, self.cfg, outbox_path=outbox_dir / f"sim-outbox-{cid}.sqlite3", public_keys=public_keys)
            for cid in self.gates
        }
        self._key, self._key_id = secrets.qr_signing_key, secrets.qr_key_id
        self.by_role: dict[str, list[Resident]] = {}
        for r in self.residents:
            self.by_role.setdefault(r.role, []).append(r)
        self.decisions: dict[str, int] = {"open": 0, "deny": 0}
        self.injector = (LiveInjector(inject_every_sim_minutes, self.rng) if inject_every_sim_minutes else None)
        self.owners = _owners_by_compound()
        self.visits: list[Visit] = []
        self.sim_minutes = 0.0

    def _count(self, result: str) -> None:
        self.decisions[result] = self.decisions.get(result, 0) + 1

    def refresh(self) -> None:
        for policy in self.policies.values():
            policy.cache.refresh()

    def step(self, now: dt.datetime, sim_minutes: float) -> int:
        """Drive the gates through ``sim_minutes`` of simulated time ending now; returns the decisions made."""
        before = sum(self.decisions.values())
        local = now.astimezone(local_tz())
        hour, weekend = local.hour, local.weekday() >= 5
        for role, people in self.by_role.items():
            damp = 0.4 if weekend and role in ("commuter", "student") else 1.0
            for share, leaving in ((_OUT[role][hour] * damp, True), (_BACK[role][hour] * damp, False)):
                for _ in range(int(self.rng.poisson(len(people) * share * sim_minutes / 60))):
                    r = people[int(self.rng.integers(0, len(people)))]
                    stays_in = self.injector is not None and r.person_id in self.injector.frozen
                    gone = self.injector is not None and r.person_id in self.injector.gone
                    if r.inside == leaving and not (leaving and stays_in) and not gone:
                        self._pass(r, leaving, now)
        daytime = 8 <= hour < 21
        for cid, policy in self.policies.items():
            for _ in range(int(self.rng.poisson(1.2 * sim_minutes / 60 * (1 if daytime else 0.1)))):
                self._count(policy.manual(self._gate(cid), "in", now).result)  # a courier
            if self.rng.random() < 0.15 * sim_minutes / 60:
                face = self.rng.normal(size=512).astype(np.float32)  # someone nobody enrolled
                self._count(policy.face_template(self._gate(cid), face, now).result)
        self.sim_minutes += sim_minutes
        self._visitors(now, sim_minutes, daytime)
        any_policy = next(iter(self.policies.values()), None)
        for gate_id, site_id in self.counters:
            for _ in range(int(self.rng.poisson((90 if daytime else 10) * sim_minutes / 60))):
                if any_policy is not None:  # counters are not decisions: they go straight to the stream
                    any_policy.publisher.publish(GateEvent(
                        event_id=uuid7(int(now.timestamp() * 1000)), ts=now, gate_id=gate_id, compound_id=None,
                        key_site_id=site_id, direction=str(self.rng.choice(["in", "out"])), method="count", result="open"))
        if self.injector is not None:
            self.injector.tick(self, now, sim_minutes)
        return sum(self.decisions.values()) - before

    def _visitors(self, now: dt.datetime, sim_minutes: float, daytime: bool) -> None:
        """Owners request passes in the app (a row in visitor_pass), visitors scan the signed code, and leave
        an hour or three later, their exit naming the pass."""
        for cid, policy in self.policies.items():
            owners = self.owners.get(cid)
            if not owners or not daytime:
                continue
            for _ in range(int(self.rng.poisson(0.8 * sim_minutes / 60))):
                dwelling_id, owner_id = owners[int(self.rng.integers(0, len(owners)))]
                pass_id = uuid.uuid4()
                valid_to = now + dt.timedelta(hours=6)
                with raw_connection() as conn:
                    conn.execute(
                        """INSERT INTO visitor_pass (id, dwelling_id, issued_by_person_id, visitor_name, visitor_id_hash,
                                                     valid_from, valid_to, entries_allowed) VALUES (%s, %s, %s, '访客', %s, %s, %s, 1)""",
                        (pass_id, dwelling_id, owner_id, self.rng.bytes(32), now - dt.timedelta(minutes=1), valid_to))
                    conn.commit()
                code = visitor_code(self._key, self._key_id, pass_id, cid, now - dt.timedelta(minutes=1), valid_to)
                decision = policy.qr(self._gate(cid), code, now)
                self._count(decision.result)
                if decision.result == "open":
                    stays = self.injector is not None and self.injector.take_overstay(pass_id, dwelling_id, now)
                    if not stays:
                        self.visits.append(Visit(pass_id, cid, self.sim_minutes + float(self.rng.uniform(60, 180))))
        leaving = [v for v in self.visits if v.leave_at <= self.sim_minutes]
        self.visits = [v for v in self.visits if v.leave_at > self.sim_minutes]
        for v in leaving:
            self._count(self.policies[v.compound_id].exit(self._gate(v.compound_id), "visitor_qr", None, now, pass_id=v.pass_id).result)

    def _pass(self, r: Resident, leaving: bool, now: dt.datetime) -> None:
        policy = self.policies[r.compound_id]
        gate = self._gate(r.compound_id)
        if leaving:
            method = "face" if r.template is not None else str(self.rng.choice(["card", "resident_qr"]))
            decision = policy.exit(gate, method, r.person_id, now)
        elif r.template is not None and self.rng.random() < 0.85:
            if r.photos and self.pipeline is not None:  # the full pipeline on a real photo
                from credentials.face_pipeline import FaceRejected, decode

                photo = r.photos[int(self.rng.integers(0, len(r.photos)))]
                try:
                    seen = self.pipeline.template(decode(photo.read_bytes())).embedding
                    decision = policy.face_template(gate, seen, now)
                except FaceRejected as exc:
                    decision = policy.face_rejected(gate, exc.record or "no_face", now)
            else:  # a smart terminal's template: the enrolled one plus capture noise
                noisy = r.template + self.rng.normal(scale=0.02, size=512).astype(np.float32)
                decision = policy.face_template(gate, noisy, now)
            if decision.result == "deny":  # face is never the only way in: scan the QR code instead
                self._count("deny")
                decision = policy.qr(gate, resident_code(self._key, self._key_id, r.person_id, r.compound_id, now), now)
        elif self.rng.random() < 0.6:
            decision = policy.qr(gate, resident_code(self._key, self._key_id, r.person_id, r.compound_id, now), now)
        else:
            decision = policy.card(gate, r.person_id, now)
        self._count(decision.result)
        if decision.result == "open":
            r.inside = not leaving

    def _gate(self, compound_id: int) -> int:
        options = self.gates[compound_id]
        return options[int(self.rng.integers(0, len(options)))]

    def run(self, should_stop: Callable[[], bool] = lambda: False, tick_s: float = 1.0,
            duration_s: float | None = None) -> dict[str, int]:
        started = last = time.monotonic()
        last_refresh = started
        while not should_stop() and (duration_s is None or time.monotonic() - started < duration_s):
            time.sleep(tick_s)
            now_mono = time.monotonic()
            self.step(dt.datetime.now(dt.timezone.utc), (now_mono - last) * self.speed / 60)
            last = now_mono
            if now_mono - last_refresh > 10:  # grants, passes and revocations from the platform
                self.refresh()
                last_refresh = now_mono
            for policy in self.policies.values():
                policy.publisher.flush()
        return self.decisions
