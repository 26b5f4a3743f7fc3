"""The doorstep forms: what a grid worker can record for each kind of order, and what each changes.

The browser sends an action and the fields a person typed; who and which dwelling an order is about
is taken from the order's alert on the server, never from the browser. A found person is registered
only with a valid ID number (GB 11643 check digit; birth date and sex read from the number, so they
cannot disagree with it), into a dwelling inside the worker's jurisdiction, as a floating resident
whose relation to the dwelling names the order as its source (provenance). Everything goes through
analytics.work_orders.record_finding: one transaction, one audit entry.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from core.config import load_secrets
from core.errors import InvalidInput, NotFound
from core.viewer import Viewer
from blockdata import queries
from blockdata.identity import hash_id_number, validate_id_number
from blockdata.models import Alert, Person, Relation, RelationKind, Rental, ResidenceKind, WorkOrder
from analytics import work_orders

# Which form a kind of order shows (the rest: confirm / dismiss with notes).
FORMS = {
    "departure": "departure", "arrival_registration": "register", "group_rental": "group_rental",
    "elderly_inactive": "welfare", "verify_declaration": "declaration",
}
ACTIONS = {
    "departure": ("departed", "still_here", "registered_elsewhere", "living_here_registered_elsewhere"),
    "register": ("register", "dismissed"),
    "group_rental": ("flag_group_rental", "clear_group_rental", "dismissed"),
    "welfare": ("welfare_visit", "dismissed"),
    "declaration": ("confirmed", "dismissed"),
    "plain": ("confirmed", "dismissed"),
}
WELFARE_STATES = ("well", "needs_help", "hospital", "no_answer")
REGISTER_KINDS = ("floating", "resident", "overseas")


def form_for(kind: str) -> str:
    return FORMS.get(kind, "plain")


def id_birth_and_sex(number: str) -> tuple[dt.date, str]:
    """Birth date (digits 7–14) and sex (17th digit odd: male) of a checked 18-digit ID number."""
    number = validate_id_number(number)
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput("the ID number's birth date (digits 7–14) is not a date") from None
    if birth > dt.date.today() or birth.year < 1900:
        raise InvalidInput("the ID number's birth date (digits 7–14) is not a plausible date")
    return birth, ("M" if int(number[16]) % 2 else "F")


def _order_and_alert(session: Session, order_id: int) -> tuple[WorkOrder, Alert | None]:
    order = session.get(WorkOrder, order_id)
    if order is None:
        raise NotFound(f"no work order {order_id}")
    return order, session.get(Alert, order.alert_id) if order.alert_id else None


def _subject(alert: Alert | None, kind: str, order_id: int) -> int:
    if alert is None or alert.subject_kind != kind:
        raise InvalidInput(f"work order {order_id} is not about a {kind}; choose another finding")
    return alert.subject_id


def _require_dwelling(session: Session, viewer: Viewer, dwelling_id: int) -> None:
    """The dwelling exists and lies in the viewer's jurisdiction (refused and audited otherwise)."""
    code = session.execute(text(
        """SELECT g.code FROM dwelling d JOIN building b ON b.id = d.building_id JOIN grid g ON g.id = b.grid_id
           WHERE d.id = :d"""), {"d": dwelling_id}).scalar()
    if code is None:
        raise NotFound(f"no dwelling {dwelling_id}")
    if not viewer.covers(code):
        raise queries.deny(session, viewer, f"dwelling:{dwelling_id}", f"dwelling {dwelling_id} lies outside your jurisdiction")


def _register(session: Session, viewer: Viewer, order_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    name = str(fields.get("name") or "").strip()
    if not 2 <= len(name) <= 32:
        raise InvalidInput("enter the person's name (2–32 characters)", record=f"work_order {order_id}")
    number = str(fields.get("id_number") or "").strip().upper()
    birth, sex = id_birth_and_sex(number)
    kind = str(fields.get("residence_kind") or "floating")
    if kind not in REGISTER_KINDS:
        raise InvalidInput(f"residence kind must be one of {', '.join(REGISTER_KINDS)}", record=f"work_order {order_id}")
    try:
        dwelling_id = int(fields.get("dwelling_id") or 0)
    except (TypeError, ValueError):
        dwelling_id = 0
    if not dwelling_id:
        raise InvalidInput("choose the dwelling the person lives in (type its address)", record=f"work_order {order_id}")
    _require_dwelling(session, viewer, dwelling_id)
    if session.scalar(select(Person.id).where(Person.id_hash == hash_id_number(load_secrets().id_hash_key, number))):
        raise InvalidInput("a person with this ID number is already registered: record 人户分离 or contact the supervisor",
                           record=f"work_order {order_id}")
    return {"kind": "register_resident", "name": name, "id_number": number, "sex": sex, "birth_date": birth.isoformat(),
            "residence_kind": kind, "dwelling_id": dwelling_id}


def correction_for(session: Session, viewer: Viewer, order_id: int, action: str,
                   fields: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(outcome, correction) for a form's action, subjects taken from the order's alert."""
    work_orders.require_closer(session, viewer, order_id)  # refused and audited before the form is read
    order, alert = _order_and_alert(session, order_id)
    allowed = ACTIONS[form_for(order.kind)]
    if action not in allowed:
        raise InvalidInput(f"for this order choose one of: {', '.join(allowed)}", record=f"work_order {order_id}")
    if action in ("dismissed", "still_here"):
        return "dismissed", None
    if action == "confirmed":
        return "confirmed", None
    if action == "departed":
        return "corrected", {"kind": "person_departed", "person_id": _subject(alert, "person", order_id)}
    if action in ("registered_elsewhere", "living_here_registered_elsewhere"):
        other = str(fields.get("other_address") or "").strip()
        if len(other) < 4:
            raise InvalidInput("write the other address (where they live, or where they are registered)",
                               record=f"work_order {order_id}")
        return "corrected", {"kind": action, "person_id": _subject(alert, "person", order_id), "other_address": other[:200]}
    if action == "register":
        return "corrected", _register(session, viewer, order_id, fields)
    if action in ("flag_group_rental", "clear_group_rental"):
        return ("corrected" if action == "flag_group_rental" else "dismissed"), {
            "kind": action, "dwelling_id": _subject(alert, "dwelling", order_id)}
    if action == "welfare_visit":
        state = str(fields.get("state") or "")
        if state not in WELFARE_STATES:
            raise InvalidInput(f"the visit's result must be one of {', '.join(WELFARE_STATES)}", record=f"work_order {order_id}")
        return "confirmed", {"kind": "welfare_visit", "person_id": _subject(alert, "person", order_id), "state": state}
    raise InvalidInput(f"unknown action {action!r}", record=f"work_order {order_id}")


def submit(session: Session, viewer: Viewer, order_id: int, action: str, notes: str,
           fields: dict[str, Any] | None = None, now: dt.datetime | None = None) -> WorkOrder:
    """Record the doorstep finding of one order through its form."""
    outcome, correction = correction_for(session, viewer, order_id, action, fields or {})
    return work_orders.record_finding(session, viewer, order_id, outcome=outcome, notes=notes, correction=correction,
                                      now=now)


# --- the corrections these forms add (registered with analytics.work_orders) ----------------------


def _registered_elsewhere(session: Session, order: WorkOrder, c: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """户在人不在: registered here, living elsewhere — their living here ends; the registration stays."""
    person = session.get(Person, int(c["person_id"]))
    before = person.home_dwelling_id
    person.home_dwelling_id = None
    ended = session.execute(update(Relation).where(
        Relation.person_id == person.id, Relation.kind == RelationKind.lives_in, Relation.valid_to.is_(None)
    ).values(valid_to=now.date())).rowcount
    return {"person_id": person.id, "home_dwelling_before": before, "relations_ended": ended,
            "living_at": c["other_address"]}


def _living_here(session: Session, order: WorkOrder, c: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """人在户不在: living here, registered elsewhere — they live here (from the order) with that note."""
    person = session.get(Person, int(c["person_id"]))
    dwelling_id = person.home_dwelling_id
    if dwelling_id is None:
        raise InvalidInput("this person has no dwelling here to live in; register them with 人来登记 instead")
    if person.residence_kind is ResidenceKind.registered:
        person.residence_kind = ResidenceKind.resident
    session.add(Relation(person_id=person.id, kind=RelationKind.lives_in, dwelling_id=dwelling_id,
                         source=f"work_order:{order.id}", confidence=1.0, valid_from=now.date()))
    return {"person_id": person.id, "dwelling_id": dwelling_id, "registered_at": c["other_address"]}


def _clear_group_rental(session: Session, order: WorkOrder, c: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Not a group rental after all: rentals barred as one are cleared (other bars stay)."""
    cleared = session.execute(update(Rental).where(
        Rental.dwelling_id == int(c["dwelling_id"]), Rental.blacklisted.is_(True),
        Rental.blacklist_reason.like("群租%")).values(blacklisted=False, blacklist_reason=None)).rowcount
    return {"dwelling_id": int(c["dwelling_id"]), "rentals_cleared": cleared}


def _welfare_visit(session: Session, order: WorkOrder, c: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A visit to an elderly or disabled person: nothing in the base changes; the visit and its result are kept."""
    return {"person_id": int(c["person_id"]), "state": c["state"], "visited_at": now.isoformat()}


work_orders.EXTRA_CORRECTIONS.update({
    "registered_elsewhere": _registered_elsewhere, "living_here_registered_elsewhere": _living_here,
    "clear_group_rental": _clear_group_rental, "welfare_visit": _welfare_visit,
})
