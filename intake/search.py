"""一搜: one box that finds people, addresses, dwellings, buildings, compounds, grids and work orders.

Everything is filtered to the viewer's jurisdiction in SQL (grid codes by prefix), so a result
outside it is never fetched, let alone shown. People are found only through the query layer
(blockdata/queries.py: masked by role, audited); an ID number typed here finds its person only
within the jurisdiction, by its keyed hash (the look-up beyond it needs a stated reason, on the
police workbench 警务), so a clear ID number never travels further than the query layer. A full address is parsed with the address
parser's rules (instant, no model to load while someone types) and scored against the standard
addresses of the viewer's dwellings and buildings with the matcher's weights, so "金陵小区3-2-501"
and "南京鼓楼宁海路8号3栋2单元501室" find the same dwelling.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.viewer import POLICE_RULES, ROLES_SEEING_POLICE_RULES, Role, Viewer
from blockdata import queries
from blockdata.identity import ID_NUMBER, check_digit
from intake.addresses.matcher import score
from intake.addresses.normalise import canonical_number, normalise
from intake.addresses.parser import ParsedAddress, parse_rules

MAX_QUERY_CHARS = 100
ADDRESS_MIN_SCORE = 0.6
SEARCH_REASON = "一搜"
_NUMBER_PARTS = ("number", "building", "unit", "floor", "room")
_ORDER_QUERY = re.compile(r"^(?:工单|#|No\.?)\s*(\d{1,12})$", re.IGNORECASE)
_NAME_QUERY = re.compile(r"^[\u4e00-\u9fff·]{2,6}$")
_ADDRESS_HINT = re.compile(r"\d|[号幢栋单元室层楼弄]")
_MARKER_SQL = "(号楼|单元|号|幢|栋|座|层|楼|室|房|弄|铺|户|#)$"
# How a number may be written in the address base: bare or with one of its markers (3 = 3幢 = 3栋 …).
_MARKERS = {"building": ("", "幢", "栋", "号楼", "座", "#", "号"), "unit": ("", "单元"), "room": ("", "室", "号", "房", "户")}


@dataclass(frozen=True)
class Hit:
    """One result: what it is, how it reads, and where it opens (the drill-down place, or the orders page)."""

    kind: str  # person, dwelling, building, compound, grid, order
    label: str
    detail: str
    href: str
    score: float = 1.0


@dataclass(frozen=True)
class Results:
    hits: tuple[Hit, ...]
    note: str = ""  # a line for the person typing (an ID number typed here, too short a name …)


def search(session: Session, viewer: Viewer, query: str, *, limit: int = 20) -> Results:
    """Everything the query may mean, best first, within the viewer's jurisdiction."""
    q = (query or "").strip()
    if not q:
        return Results(())
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"a search is at most {MAX_QUERY_CHARS} characters", record=viewer.username)
    compact = re.sub(r"\s+", "", q).upper()
    if ID_NUMBER.match(compact):
        return _person_by_id_number(session, viewer, compact)
    hits: list[Hit] = []
    order = _ORDER_QUERY.match(q)
    if order:
        hits += _orders(session, viewer, int(order.group(1)))
    if _NAME_QUERY.match(q):
        hits += _people(session, viewer, q)
    if _ADDRESS_HINT.search(q):
        hits += _addresses(session, viewer, q, limit)
    hits += _places(session, viewer, q, limit)
    seen: set[str] = set()
    unique = [h for h in sorted(hits, key=lambda h: -h.score) if not (h.href in seen or seen.add(h.href))]
    return Results(tuple(unique[:limit]))


# --- people (through the query layer: masked, audited) ------------------------------------------


def _people(session: Session, viewer: Viewer, name: str) -> list[Hit]:
    return [_person_hit(h, 0.95) for h in queries.people_by_name(session, viewer, name, reason=SEARCH_REASON)]


def _person_hit(h: queries.PersonHit, rank: float) -> Hit:
    kinds = {"registered": "户籍", "resident": "常住", "floating": "流动", "overseas": "境外"}
    return Hit("person", f"{h.person.name}（{h.person.id_masked}）",
               f"人员 · {kinds.get(h.person.residence_kind, h.person.residence_kind)} · {h.person.age}岁",
               f"/drill?place=person:{h.person.id}", rank)


def _person_by_id_number(session: Session, viewer: Viewer, number: str) -> Results:
    """An ID number finds its person within the jurisdiction only (masked, audited); a wrong check digit
    is said as such, and a number not found here reads the same whether or not it exists elsewhere."""
    if check_digit(number[:17]) != number[17]:
        return Results((), note="身份证号校验位不对，请核对")
    found = queries.person_in_jurisdiction_by_id_number(session, viewer, number, reason=SEARCH_REASON)
    if found is None:
        return Results((), note="辖区内没有此身份证号的人员" + ("；辖区外查人请在「警务」页填写事由" if viewer.role is Role.police else ""))
    return Results((_person_hit(found, 1.0),))


# --- addresses → dwellings and buildings --------------------------------------------------------


def canonical(parts: ParsedAddress) -> ParsedAddress:
    """Numbers without their markers (3栋 = 3幢 = 3), names normalised: both sides compared alike."""
    changes = {p: canonical_number(getattr(parts, p)) for p in _NUMBER_PARTS}
    for p in ("district", "street", "road", "compound"):
        value = getattr(parts, p)
        changes[p] = normalise(value) if value else None
    return replace(parts, **changes)


def _addresses(session: Session, viewer: Viewer, q: str, limit: int) -> list[Hit]:
    messy = canonical(parse_rules(q))
    if not any(getattr(messy, p) for p in ("building", "room", "number", "compound", "road")):
        return []
    filters, params = [], {"patterns": viewer.like_patterns, "n": 400}
    for part in ("building", "unit", "room"):  # a number typed must be that number: selective, and indexed
        if getattr(messy, part):
            filters.append(f"a.{part} = ANY(:{part})")
            params[part] = [getattr(messy, part) + marker for marker in _MARKERS[part]]
    if not filters:  # no fine part: the road's number or the compound's name narrows it
        named = []
        if messy.number and messy.road:
            named.append("(regexp_replace(a.number, '" + _MARKER_SQL + "', '') = :number AND a.road LIKE :road)")
            params.update(number=messy.number, road=f"%{messy.road[:6]}%")
        if messy.compound:
            named.append("a.compound LIKE :compound")
            params["compound"] = f"%{re.sub('(小区|花园|家园|公寓|新村)$', '', messy.compound)[:6]}%"
        if not named:
            return []
        filters.append("(" + " OR ".join(named) + ")")
    rows = session.execute(text(f"""
        SELECT a.district, a.street, a.road, a.number, a.compound, a.building, a.unit, a.floor, a.room, a.full_text,
               d.id AS dwelling_id, bd.id AS building_id
        FROM address a
        LEFT JOIN dwelling d ON d.address_id = a.id
        LEFT JOIN building bd ON bd.address_id = a.id AND d.id IS NULL
        JOIN building b ON b.id = coalesce(d.building_id, bd.id)
        JOIN grid g ON g.id = b.grid_id
        WHERE a.kind = 'standard' AND g.code LIKE ANY(:patterns) AND {' AND '.join(filters)}
        LIMIT :n"""), params).all()
    hits = []
    for r in rows:
        standard = canonical(ParsedAddress(district=r.district, street=r.street, road=r.road, number=r.number,
                                           compound=r.compound, building=r.building, unit=r.unit, floor=r.floor,
                                           room=r.room))
        s = score(messy, standard)
        if s < ADDRESS_MIN_SCORE:
            continue
        if r.dwelling_id is not None:
            hits.append(Hit("dwelling", r.full_text, f"房屋 · 匹配度 {s:.2f}", f"/drill?place=dwelling:{r.dwelling_id}", s))
        else:
            hits.append(Hit("building", r.full_text, f"楼栋 · 匹配度 {s:.2f}", f"/drill?place=building:{r.building_id}", s * 0.99))
    return sorted(hits, key=lambda h: -h.score)[:limit]


# --- places and orders by name or code ----------------------------------------------------------


def _places(session: Session, viewer: Viewer, q: str, limit: int) -> list[Hit]:
    like = f"%{q.replace('%', '').replace('_', '')}%"
    params = {"patterns": viewer.like_patterns, "like": like, "n": limit, "code": q + "%" if q.isdigit() else "-"}
    hits = [Hit("grid", r.name, f"网格 · {r.code}", f"/drill?place=grid:{r.code}", 0.9 if r.name == q else 0.7)
            for r in session.execute(text(
                "SELECT code, name FROM grid WHERE code LIKE ANY(:patterns) AND (name LIKE :like OR code LIKE :code) "
                "ORDER BY code LIMIT :n"), params)]
    hits += [Hit("compound", r.name, f"小区 · {r.buildings}栋楼", f"/drill?place=building:{r.first_building}",
                 0.9 if r.name == q else 0.75)
             for r in session.execute(text(
                 """SELECT c.name, count(b.id) AS buildings, min(b.id) AS first_building
                    FROM compound c JOIN building b ON b.compound_id = c.id JOIN grid g ON g.id = b.grid_id
                    WHERE c.name LIKE :like AND g.code LIKE ANY(:patterns)
                    GROUP BY c.id, c.name ORDER BY c.name LIMIT :n"""), params)]
    hits += [Hit("building", f"{r.compound or ''}{r.name}", f"楼栋 · {r.floors}层", f"/drill?place=building:{r.id}",
                 0.8 if r.name == q else 0.6)
             for r in session.execute(text(
                 """SELECT b.id, b.name, b.floors, c.name AS compound FROM building b JOIN grid g ON g.id = b.grid_id
                    LEFT JOIN compound c ON c.id = b.compound_id
                    WHERE (b.name LIKE :like OR b.code = :exact) AND g.code LIKE ANY(:patterns)
                    ORDER BY b.code LIMIT :n"""), {**params, "exact": q})]
    return hits


def _orders(session: Session, viewer: Viewer, order_id: int) -> list[Hit]:
    """A work order by number: a worker finds only their own; others those of their grids."""
    where = "w.assignee_account_id = :account" if viewer.role is Role.worker else "g.code LIKE ANY(:patterns)"
    row = session.execute(text(f"""
        SELECT w.id, w.kind, w.status::text AS status, w.due_at FROM work_order w LEFT JOIN grid g ON g.id = w.grid_id
        WHERE w.id = :id AND ({where}) AND (:police_too OR w.kind <> ALL(:police))"""),
        {"id": order_id, "account": viewer.account_id, "patterns": viewer.like_patterns,
         "police_too": viewer.role in ROLES_SEEING_POLICE_RULES, "police": sorted(POLICE_RULES)}).first()
    if row is None:
        return []
    return [Hit("order", f"工单 {row.id}", f"工单 · {row.kind} · {row.status}", f"/orders?order={row.id}", 1.0)]
