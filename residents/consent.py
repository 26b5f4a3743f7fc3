"""Face consent (人脸信息单独同意, PIPL art. 29): enrolling a face template for the gates needs the
resident's explicit consent, given separately from everything else in the app; withdrawing it deletes
every app template of the person. The delete fires NOTIFY gp_access_changed, so every gate bridge drops
the face from its gallery within about a second (at the latest its next poll, GRIDPULSE_BRIDGE_REFRESH_S);
the resident still enters by resident code, card or the guard."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from blockdata.models import FaceConsent, FaceLibrary, FaceTemplate, Person
from residents.errors import ConsentRequired

PURPOSE = "gate_access"  # the only purpose a template is enrolled for
DIM = 512


@dataclass(frozen=True)
class ConsentView:
    id: int
    purpose: str
    notice_version: str
    granted_at: dt.datetime
    withdrawn_at: dt.datetime | None
    templates_deleted: int | None
    enrolled: bool


def _live(session: Session, person: Person, *, lock: bool = False) -> FaceConsent | None:
    query = select(FaceConsent).where(FaceConsent.person_id == person.id, FaceConsent.withdrawn_at.is_(None))
    return session.scalar(query.with_for_update() if lock else query)


def _enrolled(session: Session, person: Person) -> bool:
    return session.scalar(select(FaceTemplate.id).where(FaceTemplate.person_id == person.id,
                                                        FaceTemplate.library == FaceLibrary.app).limit(1)) is not None


def _view(session: Session, row: FaceConsent, person: Person) -> ConsentView:
    return ConsentView(row.id, row.purpose, row.notice_version, row.granted_at, row.withdrawn_at, row.templates_deleted,
                       _enrolled(session, person))


def give(session: Session, person: Person, *, notice_version: str, now: dt.datetime) -> ConsentView:
    """Idempotent: a resident who already consented keeps that consent (and its date)."""
    row = _live(session, person)
    if row is None:
        row = FaceConsent(person_id=person.id, purpose=PURPOSE, notice_version=notice_version, granted_at=now)
        session.add(row)
        session.flush()
    return _view(session, row, person)


def current(session: Session, person: Person) -> ConsentView | None:
    row = _live(session, person) or session.scalar(select(FaceConsent).where(FaceConsent.person_id == person.id)
                                                   .order_by(FaceConsent.id.desc()).limit(1))
    return _view(session, row, person) if row else None


def enrol(session: Session, person: Person, embedding: np.ndarray, model_version: str, now: dt.datetime) -> int:
    """Store the resident's template (replacing an earlier one) — only under a live consent."""
    row = _live(session, person, lock=True)
    if row is None:
        raise ConsentRequired("enrolling a face needs your separate consent first (POST /v1/me/face-consent)",
                              record="face template")
    vector = np.asarray(embedding, dtype=np.float32)
    if vector.shape != (DIM,) or not np.isfinite(vector).all() or float(np.linalg.norm(vector)) == 0.0:
        raise InvalidInput(f"a face template is {DIM} finite numbers, not all zero", record="face template")
    vector = vector / np.linalg.norm(vector)
    session.execute(delete(FaceTemplate).where(FaceTemplate.person_id == person.id, FaceTemplate.library == FaceLibrary.app))
    template = FaceTemplate(person_id=person.id, library=FaceLibrary.app, model_version=model_version,
                            embedding=[float(v) for v in vector], consent_at=row.granted_at, created_at=now)
    session.add(template)
    session.flush()
    return template.id


def withdraw(session: Session, person: Person, now: dt.datetime) -> ConsentView:
    row = _live(session, person, lock=True)
    if row is None:
        raise InvalidInput("there is no face consent to withdraw", record="face consent")
    deleted = session.execute(delete(FaceTemplate).where(FaceTemplate.person_id == person.id,
                                                         FaceTemplate.library == FaceLibrary.app)).rowcount
    row.withdrawn_at, row.templates_deleted = now, deleted
    session.flush()
    return _view(session, row, person)
