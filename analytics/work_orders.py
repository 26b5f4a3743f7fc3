"""Alerts → work orders for grid workers, and their doorstep findings back into the base.

Every automated flag reaches a person as a work order before anything happens to anyone (PIPL
art. 24): the order goes to the grid's worker, due by severity, escalated when overdue; only what
the worker records at the door changes data, with the order as its provenance.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from core.config import load_secrets
from core.errors import InvalidInput, NotFound
from core.viewer import POLICE_RULES, Role, Viewer
from blockdata import audit, queries
from blockdata.identity import hash_id_number, mask_id_number
from blockdata.models import (
    Alert,
    AlertStatus,
    Building,
    Dwelling,
    DwellingUse,
    Grid,
    Person,
    Relation,
    RelationKind,
    Rental,
    ResidenceKind,
    SelfDeclaration,
    Severity,
    Sex,
    WorkOrder,
    WorkOrderStatus,
)

DUE_BY_SEVERITY = {
    Severity.critical: dt.timedelta(hours=4),
    Severity.high: dt.timedelta(hours=24),
    Severity.medium: dt.timedelta(hours=72),
    Severity.low: dt.timedelta(days=7),
}
OUTCOMES = ("confirmed", "corrected", "dismissed")
DECLARATION_ORDER = "verify_declaration"
DECLARATION_DUE = dt.timedelta(hours=72)
# POLICE_RULES (core/viewer.py): their orders go to the police of the jurisdiction (no assignee: the police
# role's queue), never to the grid worker or supervisor — 重点稳控 persons are the police's to follow up.


def dispatch(session: Session, alert_ids: list[int], now: dt.datetime) -> list[WorkOrder]:
    """One work order per alert, to the worker of the alert's grid (the supervisor when the grid has none)."""
    orders = []
    for alert in session.scalars(select(Alert).where(Alert.id.in_(alert_ids)).order_by(Alert.id)):
        order = WorkOrder(
            alert_id=alert.id, kind=alert.rule, grid_id=alert.grid_id,
            assignee_account_id=None if alert.rule in POLICE_RULES else _assignee(session, alert.grid_id),
            due_at=now + DUE_BY_SEVERITY[alert.severity], status=WorkOrderStatus.assigned, created_at=now,
        )
        session.add(order)
        alert.status = AlertStatus.dispatched
        orders.append(order)
    session.flush()
    return orders


def _assignee(session: Session, grid_id: int | None) -> int | None:
    """The grid's worker, or its supervisor when the grid has no worker."""
    grid = session.get(Grid, grid_id) if grid_id else None
    return (grid.worker_account_id or grid.supervisor_account_id) if grid else None


def open_for_declaration(session: Session, declaration: SelfDeclaration, now: dt.datetime) -> WorkOrder:
    """A self-declaration changes nothing by itself: the grid worker verifies it at the door first."""
    grid_id = session.scalar(select(Building.grid_id).join(Dwelling, Dwelling.building_id == Building.id)
                             .where(Dwelling.id == declaration.dwelling_id))
    order = WorkOrder(kind=DECLARATION_ORDER, grid_id=grid_id, assignee_account_id=_assignee(session, grid_id),
                      due_at=now + DECLARATION_DUE, status=WorkOrderStatus.assigned, created_at=now)
    session.add(order)
    session.flush()
    declaration.work_order_id = order.id
    return order


def _settle_declaration(session: Session, order: WorkOrder, outcome: str, now: dt.datetime) -> dict[str, Any] | None:
    """The worker's finding on a self-declaration: confirmed → the person lives there (with the order as
    source); dismissed → the declaration is rejected and nothing else changes."""
    declaration = session.scalar(select(SelfDeclaration).where(SelfDeclaration.work_order_id == order.id))
    if declaration is None:
        return None
    if outcome == "dismissed":
        declaration.status = "rejected"
        return {"kind": "declaration_rejected", "declaration_id": declaration.id}
    declaration.status = "verified"
    person = session.get(Person, declaration.person_id)
    before = person.home_dwelling_id
    person.home_dwelling_id = declaration.dwelling_id
    session.add(Relation(person_id=person.id, kind=RelationKind.lives_in, dwelling_id=declaration.dwelling_id,
                         source=f"work_order:{order.id}", confidence=1.0, valid_from=declaration.period_from,
                         valid_to=declaration.period_to))
    return {"kind": "declaration_verified", "declaration_id": declaration.id, "person_id": person.id,
            "home_dwelling_before": before, "dwelling_id": declaration.dwelling_id}


def escalate_overdue(session: Session, now: dt.datetime) -> int:
    """Raise the escalation level of every open order past its due time (once per due period)."""
    result = session.execute(
        text(
            """
            UPDATE work_order w SET escalation_level = w.escalation_level + 1, escalated_at = :now,
                   assignee_account_id = CASE WHEN w.escalation_level = 0 AND w.kind <> ALL(:police)
                                              THEN coalesce(g.supervisor_account_id, w.assignee_account_id)
                                              ELSE w.assignee_account_id END
            FROM grid g
            WHERE g.id = w.grid_id AND w.status IN ('assigned', 'in_progress')
              AND w.due_at + (w.due_at - w.created_at) * w.escalation_level < :now
            """
        ),
        {"now": now, "police": sorted(POLICE_RULES)},
    )
    return result.rowcount


def orders_for(session: Session, viewer: Viewer, *, open_only: bool = True) -> list[WorkOrder]:
    """A grid worker's (or supervisor's) orders: assigned to them, or in their jurisdiction for supervisors."""
    query = select(WorkOrder).order_by(WorkOrder.due_at)
    if open_only:
        query = query.where(WorkOrder.status.in_([WorkOrderStatus.assigned, WorkOrderStatus.in_progress]))
    if viewer.role is Role.worker:
        query = query.where(WorkOrder.assignee_account_id == viewer.account_id, WorkOrder.kind.not_in(POLICE_RULES))
    elif viewer.role is not Role.admin:
        query = query.join(Grid, Grid.id == WorkOrder.grid_id).where(Grid.code.like(func.any(viewer.like_patterns)))
        police_kind = WorkOrder.kind.in_(POLICE_RULES)
        query = query.where(police_kind if viewer.role is Role.police else ~police_kind)
    return list(session.scalars(query))


def evidence_words(session: Session, order: WorkOrder) -> list[str]:
    """What the order's alert rests on, in words a worker reads at the door (the alert's ``evidence.says``):
    "last seen: went out by card at 南门, 2026-11-17 08:05", so a wrong alert is quickly dismissed."""
    if order.alert_id is None:
        return []
    evidence = session.execute(text("SELECT evidence FROM alert WHERE id = :id"), {"id": order.alert_id}).scalar_one_or_none()
    return [str(line) for line in (evidence or {}).get("says", [])]


def require_closer(session: Session, viewer: Viewer, order_id: int) -> WorkOrder:
    """The order, if this viewer may record its finding (its worker, the grid's supervisor, the police for a
    police order, an admin); otherwise refused and audited — before any form field is looked at, so a crafted
    finding learns nothing about someone else's order."""
    order = session.get(WorkOrder, order_id)
    if order is None:
        raise NotFound(f"no work order {order_id}")
    grid = session.get(Grid, order.grid_id) if order.grid_id else None
    is_assignee = order.assignee_account_id is not None and order.assignee_account_id == viewer.account_id
    in_grid = grid is not None and viewer.covers(grid.code)
    police_order = order.kind in POLICE_RULES
    allowed = (viewer.role is Role.admin or (police_order and viewer.role is Role.police and in_grid)
               or (not police_order and (is_assignee or (viewer.role is Role.supervisor and in_grid))))
    if not allowed:
        raise queries.deny(session, viewer, f"work_order:{order_id}", f"work order {order_id} is not yours to close")
    return order


def record_finding(
    session: Session, viewer: Viewer, order_id: int, *, outcome: str, notes: str,
    correction: dict[str, Any] | None = None, now: dt.datetime | None = None,
) -> WorkOrder:
    """What the worker found at the door; a correction is applied to the base with the order as provenance."""
    now = now or dt.datetime.now(dt.timezone.utc)
    order = require_closer(session, viewer, order_id)
    if order.status not in (WorkOrderStatus.assigned, WorkOrderStatus.in_progress):
        raise InvalidInput(f"work order {order_id} is already {order.status.value}", record=f"work_order {order_id}")
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}", record=f"work_order {order_id}")
    if not notes or not notes.strip():
        raise InvalidInput("a doorstep finding needs notes", record=f"work_order {order_id}")
    if outcome == "corrected" and not correction:
        raise InvalidInput("a corrected outcome needs the correction", record=f"work_order {order_id}")
    applied = _apply(session, order, correction, now) if correction else None
    if order.kind == DECLARATION_ORDER:
        applied = _settle_declaration(session, order, outcome, now) or applied
    order.status, order.outcome, order.finding, order.closed_at = WorkOrderStatus.done, outcome, notes.strip(), now
    order.correction = applied
    if order.alert_id:
        session.execute(
            update(Alert).where(Alert.id == order.alert_id).values(
                status=AlertStatus.dismissed if outcome == "dismissed" else AlertStatus.closed, updated_at=now
            )
        )
    audit.record(session, viewer, "work_order.finding", f"work_order:{order_id}", reason=notes.strip(),
                 outcome=outcome, correction=applied)
    session.flush()
    return order


def _apply(session: Session, order: WorkOrder, correction: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    source = f"work_order:{order.id}"
    kind = correction.get("kind")
    today = now.date()
    if kind == "person_departed":
        person = _person(session, correction)
        before = person.home_dwelling_id
        person.home_dwelling_id = None
        ended = session.execute(
            update(Relation).where(Relation.person_id == person.id, Relation.kind == RelationKind.lives_in,
                                   Relation.valid_to.is_(None)).values(valid_to=today)
        ).rowcount
        return {"kind": kind, "person_id": person.id, "home_dwelling_before": before, "relations_ended": ended, "source": source}
    if kind == "register_resident":
        dwelling = _dwelling(session, correction)
        number = str(correction.get("id_number", ""))
        person = Person(
            id_hash=hash_id_number(load_secrets().id_hash_key, number), id_masked=mask_id_number(number),
            name=str(correction["name"]), sex=Sex(correction.get("sex", "M")),
            birth_date=dt.date.fromisoformat(str(correction["birth_date"])),
            residence_kind=ResidenceKind(correction.get("residence_kind", "floating")),
            temp_residence_expiry=dt.date.fromisoformat(str(correction.get("temp_residence_expiry", today + dt.timedelta(days=180)))),
            home_dwelling_id=dwelling.id,
        )
        session.add(person)
        session.flush()
        session.add(Relation(person_id=person.id, kind=RelationKind.lives_in, dwelling_id=dwelling.id, source=source,
                             confidence=1.0, valid_from=today))
        return {"kind": kind, "person_id": person.id, "dwelling_id": dwelling.id, "id_masked": person.id_masked, "source": source}
    if kind == "flag_group_rental":
        dwelling = _dwelling(session, correction)
        before = dwelling.use.value
        dwelling.use = DwellingUse.rented
        flagged = session.execute(
            update(Rental).where(Rental.dwelling_id == dwelling.id).values(
                blacklisted=True, blacklist_reason=f"群租 confirmed at the door ({source})")
        ).rowcount
        return {"kind": kind, "dwelling_id": dwelling.id, "use_before": before, "rentals_blacklisted": flagged, "source": source}
    if kind in EXTRA_CORRECTIONS:
        return EXTRA_CORRECTIONS[kind](session, order, correction, now) | {"kind": kind, "source": source}
    known = ", ".join(("person_departed", "register_resident", "flag_group_rental", *EXTRA_CORRECTIONS))
    raise InvalidInput(f"unknown correction kind {kind!r} ({known})", record=f"work_order {order.id}")


# Corrections defined next to the forms that make them (analytics/doorstep.py): kind → apply(session, order,
# correction, now) returning what changed. Registered there so this module need not know every form.
EXTRA_CORRECTIONS: dict[str, Any] = {}


def _person(session: Session, correction: dict[str, Any]) -> Person:
    person = session.get(Person, int(correction.get("person_id", 0)))
    if person is None:
        raise NotFound(f"no person {correction.get('person_id')}")
    return person


def _dwelling(session: Session, correction: dict[str, Any]) -> Dwelling:
    dwelling = session.get(Dwelling, int(correction.get("dwelling_id", 0)))
    if dwelling is None:
        raise NotFound(f"no dwelling {correction.get('dwelling_id')}")
    return dwelling
