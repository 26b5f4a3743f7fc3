"""What a grid worker needs on the doorstep, per work order: where, who, why (in words), since when, by when.

An order alone says only "工单 1 · 置信度 0.99"; the worker must know the door to knock on, whom to
ask for, and what the data saw ("最后一次出门：11月14日 08:16，人脸，南门"). Everything here is read
for the viewer: people through the query layer (masked for the role, audited with the order as the
reason), places only inside the viewer's jurisdiction. The evidence is put in words from the alert's
evidence document; keys this module does not know are shown as they are, so a rule whose evidence
changes (or a new rule) still shows something true rather than nothing.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import local_tz
from core.errors import AccessDenied, NotFound
from core.viewer import Viewer
from core.vocab import AccessMethod, PersonTagKind, ResidenceKind, Sex, UtilityKind, order_title
from blockdata import queries
from blockdata.models import Alert, WorkOrder

# The sensitive tags are named on an order only where the role may see them (queries.person already
# dropped the others); student/commuter are not a reason to knock on a door.
_ORDER_TAGS = (PersonTagKind.elderly_alone, PersonTagKind.disabled, PersonTagKind.community_correction,
               PersonTagKind.key_control)


@dataclass(frozen=True)
class OrderCard:
    order_id: int
    kind: str
    title: str
    where: str
    who: tuple[str, ...]
    why: tuple[str, ...]
    since: dt.datetime
    due: dt.datetime
    overdue: bool
    confidence: float | None
    place_href: str | None  # the drill-down of the building (its dwellings floor by floor) or dwelling
    subject_kind: str | None
    subject_id: int | None
    dwelling_id: int | None
    lon: float | None
    lat: float | None


def _local(ts: dt.datetime | str | None) -> str:
    if ts is None:
        return "—"
    if isinstance(ts, str):
        ts = dt.datetime.fromisoformat(ts)
    return f"{ts.astimezone(local_tz()):%m月%d日 %H:%M}"


def _passage(session: Session, person_id: int, ts: str | None, direction: str | None = None) -> str:
    """The gate event at that moment in words: "11月14日 08:16，人脸，南门"."""
    if not ts:
        return "—"
    row = session.execute(text(
        """SELECT e.ts, e.method::text AS method, e.direction::text AS direction, g.name AS gate
           FROM access_event e JOIN gate g ON g.id = e.gate_id
           WHERE e.person_id = :p AND e.ts = CAST(:ts AS timestamptz) AND (CAST(:d AS text) IS NULL OR e.direction::text = :d)
           LIMIT 1"""), {"p": person_id, "ts": ts, "d": direction}).first()
    if row is None:
        return _local(ts)
    return f"{_local(row.ts)}，{AccessMethod.label_of(row.method)}，{row.gate}"


def evidence_words(session: Session, alert: Alert) -> list[str]:
    """The alert's evidence as sentences a worker reads at the door."""
    ev: dict[str, Any] = dict(alert.evidence or {})
    pid = alert.subject_id if alert.subject_kind == "person" else None
    lines: list[str] = []
    if "last_exit" in ev and pid:
        lines.append(f"最后一次出门：{_passage(session, pid, ev.pop('last_exit'), 'out')}")
    if "days_without_exit" in ev:
        lines.append(f"已 {float(ev.pop('days_without_exit')):.1f} 天未出门（超过 {ev.pop('threshold_days', '?')} 天即提醒）")
    if "last_gate_event" in ev and pid:
        lines.append(f"最后一次通行：{_passage(session, pid, ev.pop('last_gate_event'))}")
    if "last_seen" in ev and pid:  # the rules by meaning (analytics/rules/): a passage of either direction, any method
        lines.append(f"最后一次通行：{_passage(session, pid, ev.pop('last_seen'))}")
    if ev.pop("permit_lapsed", False):
        lines.append("居住证已过期：请核实是否已离开")
    if "quiet_days" in ev:
        lines.append(f"已连续 {ev.pop('quiet_days')} 天无通行记录")
    if "temp_residence_expiry" in ev:
        lines.append(f"居住证到期：{ev.pop('temp_residence_expiry')}")
    if "occupants" in ev:
        lines.append(f"登记/授权居住 {ev.pop('occupants')} 人，面积 {ev.pop('area_m2', '?')}㎡、{ev.pop('rooms', '?')} 间，"
                     f"上限 {ev.pop('cap', '?')} 人")
        sources = ev.pop("by_source", {}) or {}
        if sources:
            names = {"grant": "授权", "resident": "居住", "household": "户籍"}
            lines.append("来源：" + "，".join(f"{names.get(k, k)} {v} 人" for k, v in sources.items()))
    sightings = (ev.pop("sources", {}) or {}).get("sightings") if "sources" in ev else None
    if sightings:
        lines.append(f"陌生面孔 {sightings.get('days')} 天内出现 {sightings.get('count')} 次，"
                     f"首次 {_local(sightings.get('first'))}，最近 {_local(sightings.get('last'))}")
    if "utility" in ev:
        trend = {"drop": "骤降", "rise": "骤增"}.get(ev.pop("anomaly", ""), "异常")
        lines.append(f"{UtilityKind.label_of(ev.pop('utility'), '用量')}{trend}：近期日均 {ev.pop('recent_mean', '?')}，"
                     f"平时 {ev.pop('baseline_mean', '?')}")
    if "reasons" in ev:
        words = {"night_movement": f"夜间通行 {ev.pop('night_events', '?')} 次", "other_compounds": "出入其他小区",
                 "absent": "多日未归"}
        lines.append("异常：" + "，".join(words.get(r, r) for r in ev.pop("reasons")))
    if "legal_basis" in ev:
        lines.append(f"法律依据：{ev.pop('legal_basis')}（至 {ev.pop('legal_basis_expiry', '?')}）")
    if "last_hour" in ev:
        lines.append(f"{ev.pop('site', '')}最近一小时 {ev.pop('last_hour')} 人次，平时同时段 {ev.pop('usual_same_hour', '?')}")
    for key in ("events", "action", "compound_id", "stranger_id", "tags", "mode", "window_days", "other_compounds",
                "baseline_sd", "ratio", "occupied", "category", "window_end", "weeks_compared", "days_absent"):
        ev.pop(key, None)
    says = ev.pop("says", None) or []
    if not lines:  # a rule's own sentences, where this module has no words of its own for its evidence yet
        lines += [str(x) for x in says]
    lines += [f"{k}：{v}" for k, v in ev.items()]  # evidence this module does not know yet: shown as it is
    return lines


def _incident(session: Session, order: WorkOrder) -> dict[str, Any] | None:
    """An incident order: where it was reported, and what (category, description, by whom, photos)."""
    row = session.execute(text(
        """SELECT i.category, i.description, i.reported_by, i.location_source, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
                  g.code, g.name AS grid, (SELECT count(*) FROM work_order_photo p WHERE p.work_order_id = i.work_order_id) AS photos,
                  (SELECT coalesce(c.name, '') || b.name FROM building b LEFT JOIN compound c ON c.id = b.compound_id
                   WHERE b.grid_id = i.grid_id ORDER BY b.geom <-> i.geom LIMIT 1) AS near
           FROM incident i JOIN grid g ON g.id = i.grid_id WHERE i.work_order_id = :o"""), {"o": order.id}).first()
    if row is None:
        return None
    categories = {"fire_hazard": "消防隐患", "public_order": "治安隐患", "sanitation": "环境卫生", "facility": "设施损坏",
                  "dispute": "矛盾纠纷", "other": "其他"}
    sources = {"phone": "手机定位", "map": "地图选点", "address": "地址"}
    return {"where": f"{row.grid}，{row.near or ''}附近（{sources.get(row.location_source, row.location_source)}）",
            "href": f"/drill?place=grid:{row.code}", "dwelling_id": None, "lon": row.lon, "lat": row.lat,
            "why": (f"{categories.get(row.category, row.category)}：{row.description}",
                    f"上报人：{row.reported_by}" + (f"，照片 {row.photos} 张" if row.photos else ""))}


def _place(session: Session, alert: Alert | None, order: WorkOrder) -> dict[str, Any]:
    """The dwelling (or building, compound, site) the order is about, with its standard address and a point."""
    if order.kind == "incident" and (incident := _incident(session, order)) is not None:
        return incident
    dwelling_id = None
    if alert is not None and alert.subject_kind == "dwelling":
        dwelling_id = alert.subject_id
    elif alert is not None and alert.subject_kind == "person":
        dwelling_id = session.execute(text("SELECT home_dwelling_id FROM person WHERE id = :p"), {"p": alert.subject_id}).scalar()
    elif order.kind == "verify_declaration":
        dwelling_id = session.execute(text("SELECT dwelling_id FROM self_declaration WHERE work_order_id = :o"),
                                      {"o": order.id}).scalar()
    if dwelling_id is not None:
        row = session.execute(text(
            """SELECT coalesce(a.full_text, c.name || b.name || d.unit || '单元' || d.room || '室') AS where_, b.id AS building_id,
                      ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
               FROM dwelling d JOIN building b ON b.id = d.building_id LEFT JOIN compound c ON c.id = b.compound_id
               LEFT JOIN address a ON a.id = d.address_id WHERE d.id = :d"""), {"d": dwelling_id}).first()
        if row is not None:
            return {"where": row.where_, "href": f"/drill?place=dwelling:{dwelling_id}", "dwelling_id": dwelling_id,
                    "lon": row.lon, "lat": row.lat}
    if alert is not None and alert.subject_kind == "stranger":
        compound = (alert.evidence or {}).get("compound_id")
        row = session.execute(text(
            """SELECT c.name, min(b.id) AS building_id, ST_X(ST_Centroid(c.geom)) AS lon, ST_Y(ST_Centroid(c.geom)) AS lat
               FROM compound c LEFT JOIN building b ON b.compound_id = c.id WHERE c.id = :c GROUP BY c.id"""),
            {"c": compound}).first()
        if row is not None:
            return {"where": f"{row.name}（门岗）", "href": f"/drill?place=building:{row.building_id}" if row.building_id else None,
                    "dwelling_id": None, "lon": row.lon, "lat": row.lat}
    if alert is not None and alert.geom is not None:
        row = session.execute(text("SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat FROM alert WHERE id = :a"), {"a": alert.id}).first()
        grid = session.execute(text("SELECT code, name FROM grid WHERE id = :g"), {"g": order.grid_id}).first()
        return {"where": grid.name if grid else "—", "href": f"/drill?place=grid:{grid.code}" if grid else None,
                "dwelling_id": None, "lon": row.lon, "lat": row.lat}
    return {"where": "—", "href": None, "dwelling_id": None, "lon": None, "lat": None}


def _who(session: Session, viewer: Viewer, alert: Alert | None, order: WorkOrder) -> tuple[str, ...]:
    if alert is None or alert.subject_kind != "person":
        if alert is not None and alert.subject_kind == "stranger":
            return ("未登记人员（陌生面孔，尚无身份）",)
        return ()
    try:
        p = queries.person(session, viewer, alert.subject_id, reason=f"work_order:{order.id}")
    except (AccessDenied, NotFound):
        return ("（该人员不在您的管辖范围内）",)
    tags = "，".join(PersonTagKind(t).label for t in p.tags if t in {k.value for k in _ORDER_TAGS})
    return (f"{p.name}，{Sex.label_of(p.sex, '')}，{p.age}岁，{ResidenceKind.label_of(p.residence_kind)}"
            + (f"（{tags}）" if tags else ""), f"身份证 {p.id_masked}")


def card(session: Session, viewer: Viewer, order: WorkOrder, now: dt.datetime | None = None) -> OrderCard:
    """One order as the worker sees it; reading the person is audited with the order as the reason."""
    now = now or dt.datetime.now(dt.timezone.utc)
    alert = session.get(Alert, order.alert_id) if order.alert_id else None
    place = _place(session, alert, order)
    return OrderCard(
        order_id=order.id, kind=order.kind, title=order_title(order.kind), where=place["where"],
        who=_who(session, viewer, alert, order),
        why=tuple(evidence_words(session, alert)) if alert else tuple(place.get("why", ())),
        since=alert.created_at if alert else order.created_at, due=order.due_at, overdue=order.due_at < now,
        confidence=alert.confidence if alert else None, place_href=place["href"],
        subject_kind=alert.subject_kind if alert else None, subject_id=alert.subject_id if alert else None,
        dwelling_id=place["dwelling_id"], lon=place["lon"], lat=place["lat"],
    )


def distance_m(card_: OrderCard, lon: float, lat: float) -> float:
    """Great-circle metres from the worker's position to the order's place (unknown places last)."""
    if card_.lon is None or card_.lat is None:
        return math.inf
    p1, p2 = math.radians(lat), math.radians(card_.lat)
    dp, dl = p2 - p1, math.radians(card_.lon - lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def sort_cards(cards: list[OrderCard], by: str, position: tuple[float, float] | None = None) -> list[OrderCard]:
    """By due time (soonest first), or by distance from the worker when the phone gave its position."""
    if by == "distance" and position is not None:
        return sorted(cards, key=lambda c: (distance_m(c, *position), c.due))
    return sorted(cards, key=lambda c: (c.due, c.order_id))
