"""`gridpulse simulate`: the demo street's residents passing their gates, live.

Each simulated minute, the expected number of people leaving and coming home is read off the same
daily rhythm the seeder uses (commuters 7–9 out and 17–20 back, students, elderly mid-morning,
others through the day), scaled by --speed, and drawn at random among the residents who are at
home or out. Visitors, couriers and refused unknown faces come too, and key-site counters count.
Events carry the real time, so the live map moves. They are published through the bridge's
publisher (stream or outbox) and follow the stream contract.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text

from core.events import GateEvent, uuid7
from gate_bridge.publisher import EventPublisher
from geodata.db import transaction

log = logging.getLogger("gridpulse.simulate")
LOCAL = dt.timezone(dt.timedelta(hours=8))

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


def load_street() -> tuple[list[Resident], dict[int, list[int]], list[tuple[int, int]]]:
    """Residents with their compound and a role from age; gates per compound; key-site counter gates."""
    with transaction() as s:
        rows = s.execute(text(
            """SELECT p.id, b.compound_id, date_part('year', age(p.birth_date))::int AS age,
                      EXISTS (SELECT 1 FROM person_tag t WHERE t.person_id = p.id AND t.tag = 'student') AS student
               FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
               WHERE b.compound_id IS NOT NULL ORDER BY p.id""")).all()
        gates: dict[int, list[int]] = {}
        for gid, cid in s.execute(text("SELECT id, compound_id FROM gate WHERE compound_id IS NOT NULL ORDER BY id")):
            gates.setdefault(cid, []).append(gid)
        counters = [tuple(r) for r in s.execute(text("SELECT id, key_site_id FROM gate WHERE key_site_id IS NOT NULL ORDER BY id"))]
    residents = []
    for pid, cid, age, student in rows:
        role = "student" if student else "elderly" if age >= 65 else "commuter" if 22 <= age < 60 else "other"
        residents.append(Resident(pid, cid, role, inside=True))
    return residents, gates, counters


class Simulator:
    def __init__(self, publisher: EventPublisher, *, speed: float = 1.0, seed: int | None = None) -> None:
        self.publisher = publisher
        self.speed = speed
        self.rng = np.random.default_rng(seed)
        self.residents, self.gates, self.counters = load_street()
        self.by_role: dict[str, list[Resident]] = {}
        for r in self.residents:
            self.by_role.setdefault(r.role, []).append(r)
        self.published = 0

    def _event(self, now: dt.datetime, gate_id: int, compound_id: int | None, direction: str, method: str,
               result: str = "open", **extra: object) -> None:
        e = GateEvent(event_id=uuid7(int(now.timestamp() * 1000)), ts=now, gate_id=gate_id, compound_id=compound_id,
                      direction=direction, method=method, result=result, **extra)  # type: ignore[arg-type]
        self.publisher.publish(e)
        self.published += 1

    def step(self, now: dt.datetime, sim_minutes: float) -> int:
        """Publish what happens in ``sim_minutes`` of simulated time ending now; returns the count."""
        before = self.published
        local = now.astimezone(LOCAL)
        hour = local.hour
        weekend = local.weekday() >= 5
        for role, people in self.by_role.items():
            out_share = _OUT[role][hour] * (0.4 if weekend and role in ("commuter", "student") else 1.0)
            back_share = _BACK[role][hour] * (0.4 if weekend and role in ("commuter", "student") else 1.0)
            for share, leaving in ((out_share, True), (back_share, False)):
                expected = len(people) * share * sim_minutes / 60
                for _ in range(int(self.rng.poisson(expected))):
                    r = people[int(self.rng.integers(0, len(people)))]
                    if r.inside != leaving:
                        continue
                    r.inside = not leaving
                    method = str(self.rng.choice(["face", "resident_qr", "card"], p=[0.65, 0.2, 0.15]))
                    self._event(now, self._gate(r.compound_id), r.compound_id, "out" if leaving else "in", method,
                                person_id=r.person_id, score=round(float(self.rng.uniform(0.5, 0.88)), 4) if method == "face" else None)
        daytime = 8 <= hour < 21
        for cid in self.gates:
            for _ in range(int(self.rng.poisson(1.2 * sim_minutes / 60 * (1 if daytime else 0.1)))):
                self._event(now, self._gate(cid), cid, "in", "manual")  # a courier, registered by the guard
            if self.rng.random() < 0.15 * sim_minutes / 60:
                self._event(now, self._gate(cid), cid, "in", "face", result="deny", reason="unknown_face",
                            stranger_id=uuid.UUID(bytes=self.rng.bytes(16), version=4), score=0.2)
        for gate_id, site_id in self.counters:
            rate = (90 if daytime else 10) * sim_minutes / 60
            for _ in range(int(self.rng.poisson(rate))):
                self._event(now, gate_id, None, str(self.rng.choice(["in", "out"])), "count", key_site_id=site_id)
        return self.published - before

    def _gate(self, compound_id: int) -> int:
        options = self.gates[compound_id]
        return options[int(self.rng.integers(0, len(options)))]

    def run(self, should_stop: Callable[[], bool] = lambda: False, tick_s: float = 1.0,
            duration_s: float | None = None) -> int:
        started = time.monotonic()
        last = time.monotonic()
        while not should_stop() and (duration_s is None or time.monotonic() - started < duration_s):
            time.sleep(tick_s)
            now_mono = time.monotonic()
            n = self.step(dt.datetime.now(dt.timezone.utc), (now_mono - last) * self.speed / 60)
            last = now_mono
            if n:
                log.debug("published %d events", n)
            self.publisher.flush()
        return self.published

