"""The access policy at a compound's gates: every decision is open or deny with a reason code
(credentials/reasons.py), and every decision — denied ones too — becomes a gate event on the stream
(or in the outbox while Redis is unreachable).

- Owners enter every compound where they own a dwelling; residents and household members theirs;
  grantees the compound of the granted dwelling while the grant is valid; visitors per their pass;
  revoked, expired and blacklisted people are denied with that reason (access_cache.py).
- Face recognition is never the only way in: resident QR, visitor QR, card and the guard's manual
  registration always work.
- A face found only in the population library is denied (the gate runs on the residents' consent;
  the statutory library is for identification, not for opening doors); an unknown face is denied
  and kept as a pseudonymous stranger template for GRIDPULSE_STRANGER_RETENTION_DAYS (default 7,
  then `gridpulse retention` deletes it), never as a photo.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.events import GateEvent, uuid7
from gate_bridge.access_cache import AccessCache, PassInfo
from gate_bridge.matching import THRESHOLD, Gallery, accepted
from gate_bridge.publisher import EventPublisher
from credentials.qr_codes import QrRejected, verify
from credentials.reasons import Reason
from gate_bridge.replay import ReplayGuard
from gate_bridge.store import GateStore, PlatformUnreachable
from core.config import bridge_settings

log = logging.getLogger("gridpulse.bridge")
STRANGER_RETENTION = bridge_settings().stranger_retention


@dataclass(frozen=True)
class Decision:
    result: str  # open | deny
    method: str
    reason: str | None = None  # a Reason value on every deny
    person_id: int | None = None
    pass_id: str | None = None
    score: float | None = None
    event_id: str | None = None
    stranger_id: str | None = None  # the pseudonym an unknown face is kept under

    def to_json(self) -> bytes:
        """The API's DecisionOut, serialised directly (the fields are the same, all plain values)."""
        return json.dumps(self.__dict__).encode()


_REPLAYED = {"result": "deny", "reason": Reason.qr_replayed.value}  # how a first use reads when another gate had it


def _deny(method: str, reason: Reason, **kw) -> Decision:  # noqa: ANN003
    return Decision("deny", method, reason=reason.value, **kw)


class ScanBatcher(Protocol):
    """What the policy needs of a batcher (gate_bridge/qr_batcher.py, which is given ``decide_qr`` and knows
    nothing else of the policy): queue a scan, get its decision."""

    def decide(self, gate_id: int, payload: str, now: dt.datetime | None = None) -> Decision: ...

    async def decide_async(self, gate_id: int, payload: str, now: dt.datetime | None = None) -> Decision: ...


class GatePolicy:
    def __init__(self, cache: AccessCache, publisher: EventPublisher, replay: ReplayGuard,
                 public_keys: dict[str, Ed25519PublicKey], dsn: str) -> None:
        self.cache, self.publisher, self.replay, self.public_keys, self.dsn = cache, publisher, replay, public_keys, dsn
        self.store = GateStore(dsn)
        self._stranger_lock = threading.Lock()
        self.model_version = bridge_settings().face_model_version
        self.qr_batcher: ScanBatcher | None = None  # set by the bridge service (build_policy(batch_qr=True))

    @property
    def compound_id(self) -> int:
        return self.cache.compound_id

    # --- QR ---------------------------------------------------------------------------------

    def qr(self, gate_id: int, payload: str, now: dt.datetime | None = None) -> Decision:
        """A scanned code → decision. With a batcher (the bridge service has one) the scan joins the
        codes other gates are scanning at the same moment; see qr_batcher.py."""
        if self.qr_batcher is not None:
            return self.qr_batcher.decide(gate_id, payload, now)
        decision = self.decide_qr([(gate_id, payload, now)])[0]
        if isinstance(decision, BaseException):
            raise decision
        return decision

    async def qr_async(self, gate_id: int, payload: str, now: dt.datetime | None = None) -> Decision:
        """``qr`` for the event loop (the bridge's HTTP endpoint): with a batcher the request awaits its
        batch without holding a thread; without one the decision runs in a worker thread."""
        if self.qr_batcher is not None:
            return await self.qr_batcher.decide_async(gate_id, payload, now)
        return await asyncio.to_thread(self.qr, gate_id, payload, now)

    def decide_qr(self, scans: list[tuple[int, str, dt.datetime | None]]) -> list[Decision | BaseException]:
        """Decide several scans (gate, payload, time) and publish all their events in one round trip;
        a scan whose decision failed gets its exception in its place (raised by ``qr``)."""
        outcomes: list[tuple[Decision, GateEvent, tuple[str, int] | None] | BaseException] = []
        for gate_id, payload, now in scans:
            try:
                outcomes.append(self._qr_outcome(gate_id, payload, now or dt.datetime.now(dt.timezone.utc)))
            except Exception as exc:  # noqa: BLE001 - one bad scan must not fail the others' decisions
                outcomes.append(exc)
        decided = [o for o in outcomes if not isinstance(o, BaseException)]
        try:
            results = iter(self.publisher.publish_many(
                [(event, None if claim is None else (*claim, _REPLAYED)) for _, event, claim in decided]))
        except Exception as exc:  # noqa: BLE001
            return [exc for _ in scans]
        out: list[Decision | BaseException] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                out.append(outcome)
                continue
            decision, event, claim = outcome
            claimed = next(results)
            if claim is not None and not claimed:  # another bridge had the code: the event says so too
                decision = _deny(decision.method, Reason.qr_replayed, person_id=decision.person_id)
            out.append(Decision(decision.result, decision.method, decision.reason, decision.person_id,  # replace() is
                                decision.pass_id, decision.score, str(event.event_id)))        # slow on a hot path
        return out

    def _qr_outcome(self, gate_id: int, payload: str, now: dt.datetime) -> tuple[Decision, GateEvent, tuple[str, int] | None]:
        """The decision, its event, and for a resident code's first scan here the (nonce, TTL) still
        to be claimed platform-wide with the event's publication."""
        try:
            claims = verify(payload, self.public_keys, now)
        except QrRejected as exc:
            decision = _deny("resident_qr", Reason(exc.record))
            return decision, self._event(gate_id, "in", decision, now), None
        method = "resident_qr" if claims.kind == "resident" else "visitor_qr"
        if claims.compound_id != self.compound_id:
            decision = _deny(method, Reason.qr_other_compound, person_id=claims.person_id, pass_id=_s(claims.pass_id))
        elif claims.kind == "visitor":
            decision = self._visitor(claims.pass_id, now)
        elif claims.person_id not in (snap := self.cache.snapshot).allowed:
            decision = _deny(method, snap.refusal(claims.person_id), person_id=claims.person_id)
        else:
            ttl = max(1, int((claims.not_after - now).total_seconds()) + 5)
            if not self.replay.first_here(claims.nonce, ttl):
                decision = _deny(method, Reason.qr_replayed, person_id=claims.person_id)
            else:
                decision = Decision("open", method, person_id=claims.person_id)
                return decision, self._event(gate_id, "in", decision, now), (claims.nonce, ttl)
        return decision, self._event(gate_id, "in", decision, now), None

    def _visitor(self, pass_id: uuid.UUID | None, now: dt.datetime) -> Decision:
        info = self.cache.snapshot.passes.get(pass_id) if pass_id else None
        if info is None:
            self.cache.refresh()  # a pass issued seconds ago
            info = self.cache.snapshot.passes.get(pass_id) if pass_id else None
        reason = None
        if info is None:
            reason = Reason.pass_unknown
        elif info.compound_id != self.compound_id:
            reason = Reason.qr_other_compound
        elif info.revoked:
            reason = Reason.pass_revoked
        elif not info.valid_from <= now <= info.valid_to:
            reason = Reason.pass_outside_validity
        elif info.entries_used >= info.entries_allowed:
            reason = Reason.pass_used_up
        else:
            reason = self._count_entry(pass_id, info)
        return _deny("visitor_qr", reason, pass_id=_s(pass_id)) if reason else Decision("open", "visitor_qr", pass_id=_s(pass_id))

    def _count_entry(self, pass_id: uuid.UUID, info: PassInfo) -> Reason | None:
        """Count the entry in PostGIS (so every gate agrees, and a revocation seconds ago wins: the
        reason says which); locally while the platform is unreachable. None: counted, open."""
        try:
            counted = self.store.count_visitor_entry(pass_id)
        except PlatformUnreachable:
            info.entries_used += 1
            return None
        if counted.entries_used is None:
            info.revoked = counted.revoked
            return Reason.pass_revoked if info.revoked else Reason.pass_used_up
        info.entries_used = counted.entries_used
        return None

    # --- faces ------------------------------------------------------------------------------

    def face_template(self, gate_id: int, embedding: np.ndarray, now: dt.datetime | None = None) -> Decision:
        """A 512-d embedding from a smart terminal (or the bridge's own pipeline) → decision."""
        now = now or dt.datetime.now(dt.timezone.utc)
        snap = self.cache.snapshot
        match = snap.gallery.best(embedding)
        if accepted(match):
            return self._emit(gate_id, "in", Decision("open", "face", person_id=match.person_id, score=round(match.score, 4)), now)
        if match.score >= THRESHOLD:  # like a resident, but too like another one too: ask for QR or the guard
            return self._emit(gate_id, "in", _deny("face", Reason.ambiguous_face, score=round(match.score, 4)), now)
        fallback = snap.population.best(embedding)
        if accepted(fallback):
            reason = Reason.not_enrolled_here if fallback.person_id in snap.allowed else snap.refusal(fallback.person_id)
            return self._emit(gate_id, "in", _deny("face", reason, person_id=fallback.person_id,
                                                   score=round(fallback.score, 4)), now)
        stranger = self._remember_stranger(embedding, now)
        return self._emit(gate_id, "in", _deny("face", Reason.unknown_face, score=round(max(match.score, 0.0), 4)),
                          now, stranger_id=stranger)

    def face_rejected(self, gate_id: int, reason: str, now: dt.datetime | None = None) -> Decision:
        """A snapshot with no usable face: denied (the person can use QR, card or the guard), recorded."""
        return self._emit(gate_id, "in", _deny("face", Reason(reason)), now or dt.datetime.now(dt.timezone.utc))

    def _remember_stranger(self, embedding: np.ndarray, now: dt.datetime) -> uuid.UUID | None:
        """Keep an unknown face's template (not the photo) under a pseudonym, so repeated sightings count;
        a face like a stranger seen before keeps that stranger's pseudonym."""
        try:
            with self._stranger_lock:  # two gates seeing the same new face at once must not make two pseudonyms
                known = self.store.strangers(self.compound_id, now)
                seen = Gallery.from_rows([(i, emb) for i, (_, emb) in enumerate(known)]).best(embedding)
                if accepted(seen, margin=0.0):
                    return known[seen.person_id][0]
                return self.store.add_stranger(self.compound_id, self.model_version, embedding, now + STRANGER_RETENTION)
        except PlatformUnreachable:
            return None  # the platform is down: the decision stands, the sighting is not kept

    # --- exits, cards and the guard ---------------------------------------------------------

    def card(self, gate_id: int, person_id: int, now: dt.datetime | None = None) -> Decision:
        """An access card: opens for people allowed in this compound now."""
        snap = self.cache.snapshot
        decision = Decision("open", "card", person_id=person_id) if person_id in snap.allowed \
            else _deny("card", snap.refusal(person_id), person_id=person_id)
        return self._emit(gate_id, "in", decision, now or dt.datetime.now(dt.timezone.utc))

    def manual(self, gate_id: int, direction: str = "in", now: dt.datetime | None = None,
               person_id: int | None = None) -> Decision:
        """The guard registers someone by hand (a courier, a visitor without a phone): always possible."""
        return self._emit(gate_id, direction, Decision("open", "manual", person_id=person_id),
                          now or dt.datetime.now(dt.timezone.utc))

    def exit(self, gate_id: int, method: str = "count", person_id: int | None = None, now: dt.datetime | None = None,
             pass_id: uuid.UUID | None = None) -> Decision:
        """Exit is frictionless but recorded (a visitor's exit names their pass, so overstays can be seen)."""
        return self._emit(gate_id, "out", Decision("open", method, person_id=person_id, pass_id=_s(pass_id)),
                          now or dt.datetime.now(dt.timezone.utc))

    def exit_qr(self, gate_id: int, payload: str, now: dt.datetime | None = None) -> Decision:
        """A code shown on the way out names who left (a visitor's pass: overstays can be seen). The
        gate opens whatever the code says — exits are never blocked — but only a genuine code of this
        compound names anyone; an expired one still does (shown late, at the door), a forged one not."""
        now = now or dt.datetime.now(dt.timezone.utc)
        try:
            claims = verify(payload, self.public_keys, now, skew=dt.timedelta(hours=24))
        except QrRejected as exc:
            return self._emit(gate_id, "out", Decision("open", "count", reason=exc.record), now)
        method = "resident_qr" if claims.kind == "resident" else "visitor_qr"
        if claims.compound_id != self.compound_id:
            return self._emit(gate_id, "out", Decision("open", "count", reason=Reason.qr_other_compound.value), now)
        return self.exit(gate_id, method, person_id=claims.person_id, pass_id=claims.pass_id, now=now)

    def exit_face(self, gate_id: int, embedding: np.ndarray, now: dt.datetime | None = None) -> Decision:
        """A face on the way out names a resident of this compound's gallery; anyone else is a count."""
        match = self.cache.snapshot.gallery.best(embedding)
        if accepted(match):
            return self.exit(gate_id, "face", person_id=match.person_id, now=now)
        return self.exit(gate_id, "count", now=now)

    def _event(self, gate_id: int, direction: str, decision: Decision, now: dt.datetime,
               stranger_id: uuid.UUID | None = None) -> GateEvent:
        return GateEvent(
            event_id=uuid7(int(now.timestamp() * 1000)), ts=now, gate_id=gate_id, compound_id=self.compound_id,
            direction=direction, method=decision.method, result=decision.result, person_id=decision.person_id,
            pass_id=uuid.UUID(decision.pass_id) if decision.pass_id else None, score=decision.score,
            reason=decision.reason, stranger_id=stranger_id,
        )

    def _emit(self, gate_id: int, direction: str, decision: Decision, now: dt.datetime,
              stranger_id: uuid.UUID | None = None) -> Decision:
        event = self._event(gate_id, direction, decision, now, stranger_id)
        self.publisher.publish(event)
        return dataclasses.replace(decision, event_id=str(event.event_id), stranger_id=_s(stranger_id))


def _s(value: object) -> str | None:
    return None if value is None else str(value)
