"""Face consent (人脸信息单独同意, PIPL art. 29): enrolling a face template for the gates needs the
resident's explicit consent, given separately from everything else in the app, to a notice the platform
published (consent_notice); a template opens a gate only while such a consent is live (view face_gallery).
Withdrawing it deletes every app template of the person, however it was enrolled. The delete fires NOTIFY gp_access_changed, so every gate bridge drops
the face from its gallery within about a second (at the latest its next poll, GRIDPULSE_BRIDGE_REFRESH_S);
the resident still enters by resident code, card or the guard."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from blockdata.models import ConsentNotice, FaceConsent, FaceLibrary, FaceTemplate, Person
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


def published(session: Session, notice_version: str, now: dt.datetime) -> bool:
    """Whether the platform published this notice (a consent to any other backs no template)."""
    return session.scalar(select(ConsentNotice.version).where(ConsentNotice.version == notice_version,
                                                              ConsentNotice.published_at <= now)) is not None


def give(session: Session, person: Person, *, notice_version: str, now: dt.datetime) -> ConsentView:
    """Idempotent: a resident who already consented keeps that consent (and its date). Only to a notice the
    platform published: the app cannot make up the version a resident agreed to."""
    if not published(session, notice_version, now):
        raise InvalidInput(f"notice {notice_version!r} was never published: show the resident the current notice "
                           f"and send its version", record="face consent")
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
    """Delete every app template of the person, however it was enrolled (the app, a gate terminal's desk,
    an importer), and record the withdrawal. A template enrolled without a consent record (an older
    importer) is deleted too, and the withdrawal recorded against the date it was enrolled with."""
    row = _live(session, person, lock=True)
    first_consent = session.scalar(select(func.min(FaceTemplate.consent_at)).where(
        FaceTemplate.person_id == person.id, FaceTemplate.library == FaceLibrary.app))
    deleted = session.execute(delete(FaceTemplate).where(FaceTemplate.person_id == person.id,
                                                         FaceTemplate.library == FaceLibrary.app)).rowcount
    if row is None:
        if not deleted:
            raise InvalidInput("there is no face consent to withdraw", record="face consent")
        row = FaceConsent(person_id=person.id, purpose=PURPOSE, notice_version=_oldest_notice(session),
                          granted_at=min(first_consent or now, now))
        session.add(row)
    row.withdrawn_at, row.templates_deleted = now, deleted
    session.flush()
    return _view(session, row, person)


def _oldest_notice(session: Session) -> str:
    """The notice a consent without a record is filed under (the first the platform published)."""
    return session.scalar(select(ConsentNotice.version).order_by(ConsentNotice.published_at, ConsentNotice.version).limit(1))
