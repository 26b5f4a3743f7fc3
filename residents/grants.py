"""Owners authorise family members and tenants for a dwelling (授权), capped by its floor area, and revoke.

The cap is checked with the dwelling's row locked (SELECT … FOR UPDATE), so parallel requests are
counted one after another and never exceed it. A revocation is a row update that the gate bridges
hear at once (NOTIFY gp_access_changed) and apply within about a second.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import AccessDenied, InvalidInput, NotFound
from blockdata.masking import mask_name
from blockdata.models import AccessGrant, GrantKind, Person
from residents.dwellings import active_grant_filter, cap_for, require_owned
from residents.errors import Conflict
from residents.people import find_or_register

MAX_VALIDITY = dt.timedelta(days=3 * 366)  # a grant lasts at most about three years; renew it after


@dataclass(frozen=True)
class GrantView:
    id: int
    dwelling_id: int
    grantee_name: str  # masked: the owner typed it, the API never echoes people's full names
    grantee_id_masked: str
    kind: str
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    revoked_at: dt.datetime | None


def _view(grant: AccessGrant, grantee: Person) -> GrantView:
    """The grantee as the owner entered them (name and masked ID number), never as the base knows them:
    otherwise the answer would tell whether an ID number is registered, and under which name."""
    name = grant.grantee_name_entered if grant.grantee_name_entered is not None else grantee.name
    return GrantView(grant.id, grant.dwelling_id, mask_name(name), grantee.id_masked, grant.kind.value,
                     grant.valid_from, grant.valid_to, grant.revoked_at)


def authorise(session: Session, owner: Person, dwelling_id: int, *, id_number: str, name: str, kind: str,
              valid_from: dt.datetime | None, valid_to: dt.datetime | None, now: dt.datetime) -> GrantView:
    if kind not in GrantKind.__members__:
        raise InvalidInput("kind is family or tenant", record="grant")
    valid_from = valid_from or now
    if valid_from < now - dt.timedelta(minutes=5):
        raise InvalidInput("a grant cannot start in the past", record="grant")
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidInput("a grant must end after it starts", record="grant")
    if (valid_to or valid_from + MAX_VALIDITY) - valid_from > MAX_VALIDITY:
        raise InvalidInput("a grant lasts at most three years", record="grant")
    dwelling = require_owned(session, owner, dwelling_id, lock=True)
    grantee = find_or_register(session, id_number, name, valid_to.date() if valid_to else None)
    if grantee.id == owner.id:
        raise InvalidInput("an owner needs no grant for their own dwelling", record="grant")
    active = select(func.count()).select_from(AccessGrant).where(AccessGrant.dwelling_id == dwelling_id,
                                                                 *active_grant_filter(now))
    if session.scalar(active.where(AccessGrant.grantee_person_id == grantee.id)):
        raise Conflict("this person already holds a grant for this dwelling", record=f"dwelling {dwelling_id}")
    cap, used = cap_for(dwelling.area_m2), session.scalar(active)
    if used >= cap:
        raise Conflict(f"the dwelling's cap is reached: {float(dwelling.area_m2):g} m² allows {cap} authorised "
                       f"people and {used} hold a grant; revoke one first", record=f"dwelling {dwelling_id}")
    grant = AccessGrant(dwelling_id=dwelling_id, owner_person_id=owner.id, grantee_person_id=grantee.id,
                        kind=GrantKind[kind], valid_from=valid_from, valid_to=valid_to, created_at=now,
                        grantee_name_entered=name.strip())
    session.add(grant)
    session.flush()
    return _view(grant, grantee)


def grants_of(session: Session, owner: Person, dwelling_id: int) -> list[GrantView]:
    require_owned(session, owner, dwelling_id)
    rows = session.execute(select(AccessGrant, Person).join(Person, Person.id == AccessGrant.grantee_person_id)
                           .where(AccessGrant.dwelling_id == dwelling_id).order_by(AccessGrant.id)).all()
    return [_view(g, p) for g, p in rows]


def revoke(session: Session, owner: Person, grant_id: int, now: dt.datetime) -> GrantView:
    grant = session.scalar(select(AccessGrant).where(AccessGrant.id == grant_id).with_for_update())
    if grant is None:
        raise NotFound(f"no grant {grant_id}", record=f"grant {grant_id}")
    try:
        require_owned(session, owner, grant.dwelling_id)
    except AccessDenied:
        raise AccessDenied("this grant is for a dwelling you do not own", record=f"grant {grant_id}") from None
    if grant.revoked_at is not None:
        raise Conflict("this grant is already revoked", record=f"grant {grant_id}")
    grant.revoked_at = now
    session.flush()
    return _view(grant, session.get(Person, grant.grantee_person_id))
