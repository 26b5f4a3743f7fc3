"""The address review queue (地址复核): low-score matches wait in ``address_review`` for a person.

An import queues every non-standard address whose best standard candidate scored below the match
threshold, with the raw text, the candidate and its score, the import run and the source file. A
person then accepts (the address is linked to the candidate, or to another standard address they
chose) or rejects (it stays unlinked); who decided and when are stored on the row, and the decision
is written to the audit log in the same transaction. Deciding twice is refused.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from core.errors import AccessDenied, InvalidInput, NotFound
from core.viewer import Role, Viewer
from blockdata import audit
from blockdata.models import Address, AddressKind, AddressReview, ReviewStatus


def queue_review(
    session: Session, *, address_id: int, raw_text: str, candidate_id: int | None, score: float,
    import_run: uuid.UUID | None = None, source: str | None = None,
) -> AddressReview:
    """Queue one address for review (validated; the database checks again: score in [0, 1], one
    pending review per address)."""
    from blockdata.registry import _flush

    record = f"address review of address {address_id}"
    if not 0.0 <= score <= 1.0:
        raise InvalidInput(f"a match score lies in [0, 1], got {score}", record=record)
    if not (raw_text or "").strip():
        raise InvalidInput("no address text to review", record=record)
    review = AddressReview(address_id=address_id, raw_text=raw_text, candidate_id=candidate_id, score=float(score),
                           import_run=import_run, source=(source or None) and source[:256])
    return _flush(session, review, record)


REQUEUE_ACTOR = "system:requeue"


@dataclass(frozen=True)
class Requeued:
    """What a requeue did: linked (newly unlinked addresses), queued (for review), and among the reviews
    that were pending: resolved (now above the threshold: linked, the review closed by the system) and
    improved (a better candidate than before, still below: the review shows it)."""

    linked: int
    queued: int
    resolved: int
    improved: int


def requeue_unlinked(session: Session, *, threshold: float = 0.85) -> Requeued:
    """Match again every unlinked non-standard address, by text and by location (intake.addresses.locate):
    those with no review yet are linked at ``threshold`` or above, else queued; those whose review is
    still pending (standard addresses may have arrived since) are linked and their review closed as
    accepted by ``system:requeue`` (audited), or keep waiting with the better candidate."""
    from intake.addresses.locate import best
    from intake.addresses.matcher import AddressIndex
    from intake.addresses.parser import parse

    index = AddressIndex.from_session(session)
    pending = dict(session.execute(select(AddressReview.address_id, AddressReview)
                                   .where(AddressReview.status == ReviewStatus.pending)).tuples().all())
    decided = select(AddressReview.address_id).where(AddressReview.status != ReviewStatus.pending)
    unlinked = session.scalars(select(Address).where(
        Address.kind == AddressKind.non_standard, Address.standard_id.is_(None), Address.id.not_in(decided)
    ).order_by(Address.id))
    linked = queued = resolved = improved = 0
    now = dt.datetime.now(dt.timezone.utc)
    for a in unlinked:
        m = best(session, index, a, parse(a.full_text), threshold)
        review = pending.get(a.id)
        if review is None:
            if m.standard_id is not None and m.score >= threshold:
                a.standard_id = m.standard_id
                linked += 1
            else:
                queue_review(session, address_id=a.id, raw_text=a.full_text, candidate_id=m.standard_id, score=m.score,
                             source="requeue")
                queued += 1
        elif m.standard_id is not None and m.score >= threshold:
            a.standard_id = m.standard_id
            review.candidate_id = review.chosen_id = m.standard_id
            review.score, review.status = m.score, ReviewStatus.accepted
            review.decided_by, review.decided_at = REQUEUE_ACTOR, now
            session.flush()
            audit.record(session, Viewer(None, Role.admin, (), REQUEUE_ACTOR), "address_review", f"address:{a.code}",
                         review_id=review.id, decision="accepted", chosen_id=m.standard_id, score=m.score)
            resolved += 1
        elif m.standard_id is not None and m.score > review.score:
            review.candidate_id, review.score = m.standard_id, m.score
            improved += 1
    session.flush()
    return Requeued(linked, queued, resolved, improved)


@dataclass(frozen=True)
class ReviewItem:
    review_id: int
    address_id: int
    code: str
    full_text: str
    candidate_id: int | None
    candidate_code: str | None
    candidate_text: str | None
    score: float
    status: str
    import_run: str | None
    source: str | None
    decided_by: str | None
    decided_at: dt.datetime | None


def review_queue(
    session: Session, *, status: ReviewStatus | None = ReviewStatus.pending, import_run: uuid.UUID | None = None,
    limit: int = 200,
) -> list[ReviewItem]:
    """Reviews (pending ones by default), oldest first, each with its address and best candidate."""
    cand = aliased(Address)
    q = (select(AddressReview, Address.code, Address.full_text, cand.code, cand.full_text)
         .join(Address, Address.id == AddressReview.address_id)
         .outerjoin(cand, cand.id == AddressReview.candidate_id)
         .order_by(AddressReview.created_at, AddressReview.id).limit(limit))
    if status is not None:
        q = q.where(AddressReview.status == status)
    if import_run is not None:
        q = q.where(AddressReview.import_run == import_run)
    return [
        ReviewItem(r.id, r.address_id, code, text, r.candidate_id, ccode, ctext, r.score, r.status.value,
                   str(r.import_run) if r.import_run else None, r.source, r.decided_by, r.decided_at)
        for r, code, text, ccode, ctext in session.execute(q).tuples()
    ]


DECIDING_ROLES = (Role.admin, Role.street, Role.supervisor)


def decide(
    session: Session, viewer: Viewer, review_id: int, *, accept: bool, chosen_id: int | None = None,
) -> AddressReview:
    """``viewer``'s decision (admin, command centre or 网格长). ``accept`` links the address to ``chosen_id``
    (default: the candidate); otherwise the address stays unlinked. Audited in the caller's transaction."""
    record = f"address review {review_id}"
    if viewer.role not in DECIDING_ROLES:
        raise AccessDenied(f"a {viewer.role.value} may not decide address reviews", record=record)
    review = session.get(AddressReview, review_id, with_for_update=True)
    if review is None:
        raise NotFound(f"address review {review_id} does not exist", record=record)
    if review.status is not ReviewStatus.pending:
        raise InvalidInput(f"already {review.status.value} by {review.decided_by} at {review.decided_at:%Y-%m-%d %H:%M}",
                           record=record)
    address = session.get(Address, review.address_id)
    if accept:
        target_id = chosen_id if chosen_id is not None else review.candidate_id
        if target_id is None:
            raise InvalidInput("no candidate to accept: choose a standard address", record=record)
        target = session.get(Address, target_id)
        if target is None or target.kind is not AddressKind.standard:
            raise InvalidInput(f"address {target_id} is not a standard address", record=record)
        address.standard_id = target.id
        review.chosen_id = target.id
        review.status = ReviewStatus.accepted
    else:
        review.status = ReviewStatus.rejected
    review.decided_by = viewer.username[:64]
    review.decided_at = dt.datetime.now(dt.timezone.utc)
    session.flush()
    audit.record(session, viewer, "address_review", f"address:{address.code}", review_id=review.id,
                 decision=review.status.value, chosen_id=review.chosen_id, score=review.score)
    return review
