"""An owner's dwellings and the check that a dwelling is theirs, which every owner action starts with."""
from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import settings
from core.errors import AccessDenied, NotFound
from blockdata.models import AccessGrant, Building, Compound, Dwelling, Ownership, Person


def cap_for(area_m2: float) -> int:
    """Authorised occupants a dwelling may have: its floor area over GRIDPULSE_AREA_PER_PERSON_M2, at least 1."""
    return max(1, math.floor(float(area_m2) / settings().area_per_person_m2))


@dataclass(frozen=True)
class OwnedDwelling:
    dwelling_id: int
    code: str
    compound_id: int
    compound_name: str
    building: str
    unit: int
    floor: int
    room: str
    area_m2: float
    cap: int
    active_grants: int
    remaining: int


def active_grant_filter(now: object) -> list:  # noqa: ANN401 - a SQLAlchemy clause list
    """A grant that lets someone in now or later: not revoked and not ended."""
    return [AccessGrant.revoked_at.is_(None), (AccessGrant.valid_to.is_(None)) | (AccessGrant.valid_to > now)]


def require_owned(session: Session, owner: Person, dwelling_id: int, *, lock: bool = False) -> Dwelling:
    """The dwelling, if ``owner`` owns it; with ``lock`` its row is locked until commit, so two
    concurrent grants for one dwelling are counted one after the other (the cap holds under races)."""
    query = select(Dwelling).where(Dwelling.id == dwelling_id)
    dwelling = session.scalar(query.with_for_update() if lock else query)
    if dwelling is None:
        raise NotFound(f"no dwelling {dwelling_id}", record=f"dwelling {dwelling_id}")
    owns = session.scalar(select(func.count()).select_from(Ownership).where(
        Ownership.dwelling_id == dwelling_id, Ownership.person_id == owner.id))
    if not owns:
        raise AccessDenied("you do not own this dwelling", record=f"dwelling {dwelling_id}")
    return dwelling


def owned_dwellings(session: Session, owner: Person, now: object) -> list[OwnedDwelling]:
    active = (select(AccessGrant.dwelling_id, func.count().label("n")).where(*active_grant_filter(now))
              .group_by(AccessGrant.dwelling_id).subquery())
    rows = session.execute(
        select(Dwelling, Building.name, Compound.id, Compound.name, func.coalesce(active.c.n, 0))
        .join(Ownership, Ownership.dwelling_id == Dwelling.id)
        .join(Building, Building.id == Dwelling.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .outerjoin(active, active.c.dwelling_id == Dwelling.id)
        .where(Ownership.person_id == owner.id).order_by(Dwelling.id)
    ).all()
    return [OwnedDwelling(d.id, d.code, cid, cname, bname, d.unit, d.floor, d.room, float(d.area_m2),
                          cap_for(d.area_m2), int(n), max(0, cap_for(d.area_m2) - int(n)))
            for d, bname, cid, cname, n in rows]


def compound_of(session: Session, dwelling_id: int) -> int:
    return session.scalar(select(Building.compound_id).join(Dwelling, Dwelling.building_id == Building.id)
                          .where(Dwelling.id == dwelling_id))
