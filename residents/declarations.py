"""Self-declaration (自主申报): a floating resident says where they live; it is recorded as pending and
opens a verification work order for the grid worker, whose doorstep finding decides it
(analytics/work_orders.py). Nothing about the person changes until then."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.work_orders import open_for_declaration
from core.errors import InvalidInput, NotFound
from blockdata.models import Dwelling, Person, SelfDeclaration
from residents.errors import Conflict

# 与房主关系: what the app offers; stored as given.
RELATIONS = ("tenant", "family", "lodger", "employee")


@dataclass(frozen=True)
class DeclarationView:
    id: int
    dwelling_id: int
    period_from: dt.date
    period_to: dt.date | None
    relation_to_owner: str
    status: str
    work_order_id: int | None


def _view(row: SelfDeclaration) -> DeclarationView:
    return DeclarationView(row.id, row.dwelling_id, row.period_from, row.period_to, row.relation_to_owner, row.status,
                           row.work_order_id)


def declare(session: Session, person: Person, *, dwelling_id: int, period_from: dt.date, period_to: dt.date | None,
            relation_to_owner: str, now: dt.datetime) -> DeclarationView:
    today = now.date()
    if relation_to_owner not in RELATIONS:
        raise InvalidInput(f"relation_to_owner is one of {', '.join(RELATIONS)}", record="declaration")
    if period_from > today + dt.timedelta(days=30) or period_from < today - dt.timedelta(days=366):
        raise InvalidInput("the stay starts within the last year or the next 30 days", record="declaration")
    if period_to is not None and period_to < max(period_from, today):
        raise InvalidInput("the stay ends after it starts and not in the past", record="declaration")
    if session.get(Dwelling, dwelling_id) is None:
        raise NotFound(f"no dwelling {dwelling_id}", record=f"dwelling {dwelling_id}")
    pending = session.scalar(select(SelfDeclaration.id).where(
        SelfDeclaration.person_id == person.id, SelfDeclaration.dwelling_id == dwelling_id,
        SelfDeclaration.status == "pending"))
    if pending:
        raise Conflict(f"your declaration {pending} for this dwelling is still being verified", record="declaration")
    row = SelfDeclaration(person_id=person.id, dwelling_id=dwelling_id, period_from=period_from, period_to=period_to,
                          relation_to_owner=relation_to_owner, declared_at=now)
    session.add(row)
    session.flush()
    open_for_declaration(session, row, now)
    return _view(row)


def declarations_of(session: Session, person: Person) -> list[DeclarationView]:
    rows = session.scalars(select(SelfDeclaration).where(SelfDeclaration.person_id == person.id)
                           .order_by(SelfDeclaration.id.desc()))
    return [_view(r) for r in rows]
