"""The legal basis of a compound's population-library fallback (issue 16 item 1), recorded without SQL.

A gate's fallback search of the city's population library runs only while its compound has a live row
in ``population_basis`` (gp_population_identify, migration 0006, looks it up on every call). Granting
and revoking that row is a legal act: only an admin account (with its password) or a named system actor
may do it, each grant and revocation is audited with the basis and who, and bad input is refused before
anything is written. One compound has at most one live basis at a time, so the audit trail of a search
points at exactly the decision that allowed it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import local_tz
from core.errors import InvalidInput, NotFound
from core.viewer import Role, Viewer
from blockdata import audit
from blockdata.models import Compound, PopulationBasis
from blockdata.queries import deny

MIN_PER_MINUTE, MAX_PER_MINUTE = 1, 600  # the table's check constraint rate_range
DOCUMENT_MAX = 256


@dataclass(frozen=True)
class BasisRow:
    """One basis as `gridpulse basis list` shows it (times in the street's local time zone)."""

    id: int
    compound_code: str
    compound_name: str
    status: str  # live | revoked | expired | pending
    granted_by: str
    document: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    lookups_per_minute: int
    revoked_at: dt.datetime | None


def end_of_day(last_day: dt.date, today: dt.date) -> dt.datetime:
    """The instant a basis valid through ``last_day`` ends: the next local midnight. A legal document names
    the last day it holds, so that whole day counts; a day before today is refused (it could never be live)."""
    if last_day < today:
        raise InvalidInput(f"{last_day.isoformat()} is in the past: give the last day the basis holds, "
                           f"{today.isoformat()} or later", record="--until")
    if last_day == dt.date.max:
        raise InvalidInput("a legal basis ends on a real day: give the document's last day", record="--until")
    return dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=local_tz())


def _require_admin(session: Session, viewer: Viewer, what: str, subject: str) -> None:
    """Only an admin decides a legal basis; a refusal is audited in its own transaction (queries.deny)."""
    if viewer.role is not Role.admin:
        raise deny(session, viewer, subject, f"only an admin account or a system:<name> actor may {what} a legal "
                                             f"basis ({viewer.username} is {viewer.role.value})")


def _compound(session: Session, code: str) -> Compound:
    compound = session.scalar(select(Compound).where(Compound.code == code.strip()))
    if compound is None:
        raise NotFound(f"no compound with code {code!r}: use a compound's code (小区编码) as the import gave it",
                       record="--compound")
    return compound


def grant(session: Session, viewer: Viewer, *, compound_code: str, document: str, last_day: dt.date,
          per_minute: int = 30) -> PopulationBasis:
    """Record a live basis for the compound until the end of ``last_day`` (local time); audited."""
    _require_admin(session, viewer, "grant", f"compound:{compound_code}")
    document = (document or "").strip()
    if not document:
        raise InvalidInput("name the document the basis rests on (e.g. 公安机关协查函 2026-118)", record="--document")
    if len(document) > DOCUMENT_MAX:
        raise InvalidInput(f"the document's name is {len(document)} characters; at most {DOCUMENT_MAX}",
                           record="--document")
    if not MIN_PER_MINUTE <= per_minute <= MAX_PER_MINUTE:
        raise InvalidInput(f"{per_minute} searches a minute per gate: give {MIN_PER_MINUTE} to {MAX_PER_MINUTE}",
                           record="--per-minute")
    now = session.scalar(select(func.now()))
    valid_until = end_of_day(last_day, now.astimezone(local_tz()).date())
    compound = _compound(session, compound_code)
    # two grants for one compound at once would both see no live basis: take turns per compound
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext("population_basis"), compound.id)))
    live = session.scalar(select(PopulationBasis).where(  # unrevoked and unexpired (valid_from may be after our now())
        PopulationBasis.compound_id == compound.id, PopulationBasis.revoked_at.is_(None), PopulationBasis.valid_until > now)
        .order_by(PopulationBasis.id))
    if live is not None:
        raise InvalidInput(f"compound {compound.code} already has a live basis #{live.id} ({live.document}, until "
                           f"{_local(live.valid_until)}): revoke it first (gridpulse basis revoke {live.id})",
                           record="--compound")
    basis = PopulationBasis(compound_id=compound.id, granted_by=viewer.username[:64], document=document,
                            valid_until=valid_until, lookups_per_minute=per_minute)
    session.add(basis)
    session.flush()
    audit.record(session, viewer, "population_basis.grant", f"population_basis:{basis.id}", reason=document,
                 basis_id=basis.id, compound=compound.code, compound_id=compound.id, granted_by=basis.granted_by,
                 valid_until=valid_until.isoformat(), lookups_per_minute=per_minute)
    return basis


def revoke(session: Session, viewer: Viewer, basis_id: int) -> PopulationBasis:
    """Switch a basis off now (``revoked_at``); audited. A basis already revoked is refused, not re-dated."""
    _require_admin(session, viewer, "revoke", f"population_basis:{basis_id}")
    basis = session.get(PopulationBasis, basis_id, with_for_update=True)
    if basis is None:
        raise NotFound(f"no legal basis #{basis_id}: see gridpulse basis list", record="revoke")
    if basis.revoked_at is not None:
        raise InvalidInput(f"basis #{basis_id} was already revoked at {_local(basis.revoked_at)}", record="revoke")
    basis.revoked_at = session.scalar(select(func.now()))
    session.flush()
    code = session.scalar(select(Compound.code).where(Compound.id == basis.compound_id))
    audit.record(session, viewer, "population_basis.revoke", f"population_basis:{basis.id}", reason=basis.document,
                 basis_id=basis.id, compound=code, compound_id=basis.compound_id, granted_by=basis.granted_by,
                 valid_until=basis.valid_until.isoformat(), revoked_at=basis.revoked_at.isoformat())
    return basis


def listing(session: Session, compound_code: str | None = None) -> list[BasisRow]:
    """Every basis (newest first), or one compound's; with whether it is live now."""
    now = session.scalar(select(func.now()))
    query = (select(PopulationBasis, Compound.code, Compound.name).join(Compound, Compound.id == PopulationBasis.compound_id)
             .order_by(PopulationBasis.id.desc()))
    if compound_code is not None:
        query = query.where(PopulationBasis.compound_id == _compound(session, compound_code).id)
    return [BasisRow(b.id, code, name, _status(b, now), b.granted_by, b.document, b.valid_from, b.valid_until,
                     b.lookups_per_minute, b.revoked_at) for b, code, name in session.execute(query)]


def _status(basis: PopulationBasis, now: dt.datetime) -> str:
    if basis.revoked_at is not None:
        return "revoked"
    if basis.valid_until <= now:
        return "expired"
    return "live" if basis.valid_from <= now else "pending"


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M")
