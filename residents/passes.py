"""Visitor passes (访客通行码): an owner asks for one for their dwelling — at most 24 hours, a number of
entries — and gets a signed QR code the gate verifies offline; the owner lists and revokes them.

The pass row is the truth (the gate counts entries against it and reads revocations from it); the QR
payload is re-signed on each request and holds only the pass id, its compound and validity.
"""
from __future__ import annotations

import datetime as dt
import io
import uuid
from dataclasses import dataclass

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.keys import load_resident_secrets
from core.errors import AccessDenied, InvalidInput, NotFound
from credentials.qr_codes import VISITOR_MAX, visitor_code
from blockdata.identity import hash_id_number
from blockdata.masking import mask_name
from blockdata.models import Person, VisitorPass
from residents.dwellings import compound_of, require_owned
from residents.errors import Conflict

MAX_ENTRIES = 20
MIN_HOURS = 0.25


@dataclass(frozen=True)
class PassView:
    id: uuid.UUID
    dwelling_id: int
    compound_id: int
    visitor_name: str  # masked
    valid_from: dt.datetime
    valid_to: dt.datetime
    entries_allowed: int
    entries_used: int
    revoked_at: dt.datetime | None
    payload: str | None  # the QR text, only while the pass can still open the gate

    def usable(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and self.valid_to > now and self.entries_used < self.entries_allowed


def _view(session: Session, row: VisitorPass, now: dt.datetime) -> PassView:
    compound = compound_of(session, row.dwelling_id)
    view = PassView(row.id, row.dwelling_id, compound, mask_name(row.visitor_name), row.valid_from, row.valid_to,
                    row.entries_allowed, row.entries_used, row.revoked_at, None)
    if view.usable(now):
        secrets = load_resident_secrets()
        payload = visitor_code(secrets.qr_signing_key, secrets.qr_key_id, row.id, compound, row.valid_from, row.valid_to)
        view = PassView(**{**view.__dict__, "payload": payload})
    return view


def issue(session: Session, owner: Person, dwelling_id: int, *, visitor_name: str, visitor_id_number: str | None,
          valid_from: dt.datetime | None, hours: float, entries: int, now: dt.datetime) -> PassView:
    valid_from = valid_from or now
    if not MIN_HOURS <= hours <= VISITOR_MAX.total_seconds() / 3600:
        raise InvalidInput("a visitor pass is valid for 15 minutes to 24 hours", record="visitor pass")
    if valid_from < now - dt.timedelta(minutes=5) or valid_from > now + dt.timedelta(days=7):
        raise InvalidInput("a visitor pass starts between now and seven days ahead", record="visitor pass")
    if not 1 <= entries <= MAX_ENTRIES:
        raise InvalidInput(f"a visitor pass allows 1 to {MAX_ENTRIES} entries", record="visitor pass")
    name = visitor_name.strip()
    if not 1 <= len(name) <= 64:
        raise InvalidInput("the visitor's name has 1 to 64 characters", record="visitor pass")
    dwelling = require_owned(session, owner, dwelling_id)
    id_hash = hash_id_number(load_resident_secrets().id_hash_key, visitor_id_number) if visitor_id_number else None
    row = VisitorPass(id=uuid.uuid4(), dwelling_id=dwelling.id, issued_by_person_id=owner.id, visitor_name=name,
                      visitor_id_hash=id_hash, valid_from=valid_from,
                      valid_to=valid_from + dt.timedelta(hours=hours), entries_allowed=entries, created_at=now)
    session.add(row)
    session.flush()
    return _view(session, row, now)


def _own_pass(session: Session, owner: Person, pass_id: uuid.UUID, *, lock: bool = False) -> VisitorPass:
    query = select(VisitorPass).where(VisitorPass.id == pass_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"no visitor pass {pass_id}", record=f"visitor pass {pass_id}")
    if row.issued_by_person_id != owner.id:
        raise AccessDenied("this visitor pass was not issued by you", record=f"visitor pass {pass_id}")
    return row


def passes_of(session: Session, owner: Person, now: dt.datetime) -> list[PassView]:
    rows = session.scalars(select(VisitorPass).where(VisitorPass.issued_by_person_id == owner.id,
                                                     VisitorPass.valid_to > now - dt.timedelta(days=7))
                           .order_by(VisitorPass.created_at.desc()))
    return [_view(session, r, now) for r in rows]


def get(session: Session, owner: Person, pass_id: uuid.UUID, now: dt.datetime) -> PassView:
    return _view(session, _own_pass(session, owner, pass_id), now)


def revoke(session: Session, owner: Person, pass_id: uuid.UUID, now: dt.datetime) -> PassView:
    row = _own_pass(session, owner, pass_id, lock=True)
    if row.revoked_at is not None:
        raise Conflict("this visitor pass is already revoked", record=f"visitor pass {pass_id}")
    row.revoked_at = now
    session.flush()
    return _view(session, row, now)


def qr_image(payload: str, kind: str) -> bytes:
    """The payload as an SVG or PNG QR code (segno), error correction M, for a phone screen."""
    qr = segno.make(payload, error="m", micro=False)
    out = io.BytesIO()
    qr.save(out, kind=kind, scale=8, border=4)
    return out.getvalue()
