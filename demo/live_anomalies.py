"""Anomalies injected into the live street, with ground truth, the way the seeder injects them: an
elderly resident stops going out, a stranger keeps trying the same gate, a crowd floods a key site, a
supervised person enters another compound, a visitor does not leave, a floating resident leaves for good.
(Group rentals and utility anomalies stay seeded only: the live street creates no grants or meter readings.) Ground truth goes to schema `truth` (starts now),
which no rule reads; the rules that catch them run on the live data like on any other."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import text

from core.events import GateEvent, uuid7
from blockdata.db import transaction

KINDS = ("elderly_inactive", "arrival_registration", "keysite_surge", "correction_movement", "visitor_overstay", "departure")


@dataclass
class Loiterer:
    compound_id: int
    face: np.ndarray
    stranger_id: str | None = None
    truth_written: bool = False


@dataclass
class LiveInjector:
    every_sim_minutes: float = 120.0
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    frozen: set[int] = field(default_factory=set)  # residents who stopped going out
    gone: set[int] = field(default_factory=set)  # residents who left for good (no activity at all)
    overstay_wanted: bool = False
    loiterers: list[Loiterer] = field(default_factory=list)
    injected: list[tuple[str, str, int]] = field(default_factory=list)
    _since_last: float = 0.0
    _next_kind: int = 0

    def tick(self, sim, now: dt.datetime, sim_minutes: float) -> None:  # noqa: ANN001 - a Simulator
        self._since_last += sim_minutes
        if self._since_last >= self.every_sim_minutes:
            self._since_last = 0.0
            kind = KINDS[self._next_kind % len(KINDS)]
            self._next_kind += 1
            getattr(self, f"_{kind}")(sim, now)
        for loiterer in self.loiterers:  # each tries the gate about twice a simulated day
            if self.rng.random() < 2 * sim_minutes / 1440:
                policy = sim.policies[loiterer.compound_id]
                decision = policy.face_template(sim._gate(loiterer.compound_id), loiterer.face, now)
                loiterer.stranger_id = loiterer.stranger_id or decision.stranger_id
                if loiterer.stranger_id and not loiterer.truth_written:
                    self._truth("arrival_registration", "stranger", int(uuid.UUID(loiterer.stranger_id).int >> 65), now,
                                stranger_id=loiterer.stranger_id, compound_id=loiterer.compound_id)
                    loiterer.truth_written = True

    def _visitor_overstay(self, sim, now: dt.datetime) -> None:  # noqa: ANN001
        self.overstay_wanted = True  # the next visitor who comes in will not leave

    def take_overstay(self, pass_id: uuid.UUID, dwelling_id: int, now: dt.datetime) -> bool:
        if not self.overstay_wanted:
            return False
        self.overstay_wanted = False
        self._truth("visitor_overstay", "dwelling", dwelling_id, now, pass_id=str(pass_id))
        return True

    def _departure(self, sim, now: dt.datetime) -> None:  # noqa: ANN001
        """A floating resident leaves for good; their permit runs out within the quarter."""
        candidates = [r for r in sim.residents if r.floating and r.person_id not in self.gone and r.person_id not in self.frozen]
        if not candidates:
            return
        r = candidates[int(self.rng.integers(0, len(candidates)))]
        self.gone.add(r.person_id)
        expiry = (now + dt.timedelta(days=60)).date()
        with transaction() as s:
            s.execute(text("UPDATE person SET temp_residence_expiry = :e WHERE id = :p"), {"e": expiry, "p": r.person_id})
        self._truth("departure", "person", r.person_id, now, expiry=expiry.isoformat())

    def _elderly_inactive(self, sim, now: dt.datetime) -> None:  # noqa: ANN001
        candidates = [r for r in sim.residents if r.elderly_alone and r.inside and r.person_id not in self.frozen]
        if candidates:
            r = candidates[int(self.rng.integers(0, len(candidates)))]
            self.frozen.add(r.person_id)
            self._truth("elderly_inactive", "person", r.person_id, now)

    def _arrival_registration(self, sim, now: dt.datetime) -> None:  # noqa: ANN001
        face = self.rng.normal(size=512).astype(np.float32)
        self.loiterers.append(Loiterer(int(self.rng.choice(list(sim.policies))), face / np.linalg.norm(face)))

    def _keysite_surge(self, sim, now: dt.datetime) -> None:  # noqa: ANN001
        if not sim.counters:
            return
        gate_id, site_id = sim.counters[int(self.rng.integers(0, len(sim.counters)))]
        publisher = next(iter(sim.policies.values())).publisher
        for _ in range(600):
            at = now - dt.timedelta(seconds=float(self.rng.uniform(0, 1800)))
            publisher.publish(GateEvent(event_id=uuid7(int(at.timestamp() * 1000)), ts=at, gate_id=gate_id, compound_id=None,
                                        key_site_id=site_id, direction="in", method="count", result="open"))
        self._truth("keysite_surge", "key_site", site_id, now, extra_people=600)

    def _correction_movement(self, sim, now: dt.datetime) -> None:  # noqa: ANN001
        candidates = [r for r in sim.residents if r.supervised]
        if not candidates or len(sim.policies) < 2:
            return
        r = candidates[int(self.rng.integers(0, len(candidates)))]
        other = int(self.rng.choice([c for c in sim.policies if c != r.compound_id]))
        # the guard registers them, by name, at a compound that is not theirs
        sim.policies[other].manual(sim._gate(other), "in", now, person_id=r.person_id)
        self._truth("correction_movement", "person", r.person_id, now, other_compound=other)

    def _truth(self, kind: str, subject_kind: str, subject_id: int, now: dt.datetime, **detail: object) -> None:
        with transaction() as s:
            s.execute(text("""INSERT INTO truth.injected_anomaly (kind, subject_kind, subject_id, starts_at, detail)
                              VALUES (:k, :sk, :sid, :at, CAST(:d AS jsonb))"""),
                      {"k": kind, "sk": subject_kind, "sid": subject_id, "at": now,
                       "d": json.dumps({"live": True, **detail}, default=str)})
        self.injected.append((kind, subject_kind, subject_id))
