"""The indicator set for one place and one period, read from the daily aggregates.

A place is a region (street, community: 12-digit code), a grid (15 digits) or a compound (its code,
e.g. ``C0001``). What it holds is resolved once — its grids, its compounds (a compound belongs to the
grid that holds most of its buildings, so a street is exactly the sum of its grids) and its key
sites — and checked against the viewer's jurisdiction; a refusal is audited and raised. The figures
then come from ``place_stat_day`` (stock and count indicators), ``gate_flow_hour`` (flows) and, for
the median time to close, ``work_order`` (analytics/indicators.py says which is which).
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.indicators import BY_KEY, INDICATORS
from analytics.params import params as rule_params
from blockdata import audit
from blockdata.db import transaction
from core.config import local_tz
from core.errors import AccessDenied, InvalidInput, NotFound
from core.viewer import Viewer, code_prefix

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
MAX_DAYS = 400
SURGE_BASELINE_DAYS = 7


@dataclass(frozen=True)
class Period:
    """Local days ``start``..``end``, both included."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before (last week for a week)."""
        return Period(self.start - dt.timedelta(days=self.days), self.start - dt.timedelta(days=1))

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    def label(self) -> str:
        if self.days == 7 and self.start.isoweekday() == 1:
            year, week, _ = self.start.isocalendar()
            return f"{year}年第{week}周（{self.start:%m-%d}至{self.end:%m-%d}）"
        return f"{self.start.isoformat()} 至 {self.end.isoformat()}"


def iso_week(text_: str) -> Period:
    """``2026-W49`` → Monday..Sunday of that ISO week."""
    m = WEEK.match(text_.strip())
    if not m:
        raise InvalidInput(f"week {text_!r} is not like 2026-W49 (ISO year, 'W', two-digit week)", record="period")
    try:
        monday = dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise InvalidInput(f"week {text_!r} does not exist in {m[1]}", record="period") from None
    return Period(monday, monday + dt.timedelta(days=6))


def period(start: dt.date, end: dt.date) -> Period:
    if end < start:
        raise InvalidInput(f"the period ends ({end}) before it starts ({start}): swap the dates", record="period")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a period is at most {MAX_DAYS} days", record="period")
    return Period(start, end)


@dataclass(frozen=True)
class Place:
    kind: str  # region | grid | compound
    code: str
    name: str
    level: str  # street | community | grid | compound (or district/city)
    grid_ids: tuple[int, ...]
    compound_ids: tuple[int, ...]
    key_site_ids: tuple[int, ...]
    compound_id: int | None = None


@dataclass
class Figures:
    place: Place
    period: Period
    values: dict[str, float | None]
    daily: dict[str, dict[dt.date, float]] = field(default_factory=dict)
    per_rule: dict[str, dict[str, float]] = field(default_factory=dict)
    hourly: list[tuple[dt.datetime, int, int]] = field(default_factory=list)


# Each compound's grid: the one holding most of its buildings (ties: the lower id).
_COMPOUND_GRID = """
SELECT DISTINCT ON (compound_id) compound_id, grid_id FROM building WHERE compound_id IS NOT NULL
GROUP BY compound_id, grid_id ORDER BY compound_id, count(*) DESC, grid_id
"""


def _members(session: Session, patterns: list[str]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    grids = tuple(session.scalars(text("SELECT id FROM grid WHERE code LIKE ANY(:p) ORDER BY id"), {"p": patterns}))
    compounds = tuple(session.scalars(text(f"SELECT c.compound_id FROM ({_COMPOUND_GRID}) c WHERE c.grid_id = ANY(:g) "
                                           "ORDER BY 1"), {"g": list(grids)}))
    sites = tuple(session.scalars(text("SELECT id FROM key_site WHERE grid_id = ANY(:g) ORDER BY id"), {"g": list(grids)}))
    return grids, compounds, sites


def _refuse(viewer: Viewer, code: str) -> AccessDenied:
    with transaction() as s:  # a refusal is recorded even though the caller's transaction rolls back
        audit.record(s, viewer, "access.denied", f"stats:{code}", reason=f"{code} is outside the viewer's jurisdiction")
    return AccessDenied(f"{code} is outside your jurisdiction ({', '.join(viewer.jurisdiction) or 'none'})",
                        record=viewer.username)


def resolve(session: Session, viewer: Viewer, code: str) -> Place:
    """The place behind a code, if the viewer's jurisdiction covers it (else audited AccessDenied)."""
    code = code.strip()
    if re.fullmatch(r"\d{12}", code):
        row = session.execute(text("SELECT code, name, level::text AS level FROM region WHERE code = :c"), {"c": code}).first()
        if row is None:
            raise NotFound(f"no region {code}", record="place")
        if not viewer.covers(code):
            raise _refuse(viewer, code)
        return Place("region", code, row.name, row.level, *_members(session, [code_prefix(code) + "%"]))
    if re.fullmatch(r"\d{15}", code):
        row = session.execute(text("SELECT code, name FROM grid WHERE code = :c"), {"c": code}).first()
        if row is None:
            raise NotFound(f"no grid {code}", record="place")
        if not viewer.covers(code):
            raise _refuse(viewer, code)
        return Place("grid", code, row.name, "grid", *_members(session, [code]))
    row = session.execute(text(f"SELECT c.id, c.code, c.name, g.code AS grid_code, g.id AS grid_id FROM compound c "
                               f"JOIN ({_COMPOUND_GRID}) cg ON cg.compound_id = c.id JOIN grid g ON g.id = cg.grid_id "
                               "WHERE c.code = :c"), {"c": code}).first()
    if row is None:
        raise NotFound(f"no region, grid or compound {code!r} (a 12-digit region code, a 15-digit grid code, "
                       "or a compound code)", record="place")
    if not viewer.covers(row.grid_code):
        raise _refuse(viewer, code)
    sites = tuple(session.scalars(text("SELECT id FROM key_site WHERE grid_id = :g"), {"g": row.grid_id}))
    return Place("compound", row.code, row.name, "compound", (row.grid_id,), (row.id,), sites, compound_id=row.id)


def children(session: Session, viewer: Viewer, place: Place) -> list[Place]:
    """The places one level down that the viewer may see: communities, grids, or compounds."""
    if place.kind == "region":
        rows = session.execute(text("SELECT code FROM region WHERE parent_code = :c ORDER BY code"), {"c": place.code}).all()
        codes = [r.code for r in rows]
        if not codes:  # a community: its grids
            codes = list(session.scalars(text("SELECT code FROM grid WHERE community_code = :c ORDER BY code"), {"c": place.code}))
    elif place.kind == "grid":
        codes = list(session.scalars(text("SELECT code FROM compound WHERE id = ANY(:ids) ORDER BY code"),
                                     {"ids": list(place.compound_ids)}))
    else:
        return []
    return [resolve(session, viewer, c) for c in codes if place.kind == "grid" or viewer.covers(c)]


def _local_bounds(p: Period) -> tuple[dt.datetime, dt.datetime]:
    tz = local_tz()
    return (dt.datetime.combine(p.start, dt.time(), tz),
            dt.datetime.combine(p.end + dt.timedelta(days=1), dt.time(), tz))


def _stored(session: Session, place: Place, p: Period) -> tuple[dict[str, dict[dt.date, float]], dt.date | None]:
    """Sums over the place's units per indicator and day, and the period's last snapshot day."""
    kind, ids = ("compound", [place.compound_id]) if place.kind == "compound" else ("grid", list(place.grid_ids))
    by: dict[str, dict[dt.date, float]] = defaultdict(dict)
    for r in session.execute(text("SELECT indicator, day, sum(value) AS v FROM place_stat_day WHERE unit_kind = :k "
                                  "AND unit_id = ANY(:ids) AND day BETWEEN :d0 AND :d1 GROUP BY 1, 2"),
                             {"k": kind, "ids": ids, "d0": p.start, "d1": p.end}):
        by[r.indicator][r.day] = float(r.v)
    snap = session.execute(text("SELECT max(day) FROM stat_refresh WHERE snapshot AND day BETWEEN :d0 AND :d1"),
                           {"d0": p.start, "d1": p.end}).scalar()
    return by, snap


def _hourly(session: Session, place: Place, p: Period) -> list[tuple[dt.datetime, int, int]]:
    t0, t1 = _local_bounds(p)
    rows = session.execute(text(
        "SELECT h.hour, sum(h.entries) AS e, sum(h.exits) AS x FROM gate_flow_hour h JOIN gate t ON t.id = h.gate_id "
        "WHERE t.compound_id = ANY(:c) AND h.hour >= :t0 AND h.hour < :t1 GROUP BY 1 ORDER BY 1"),
        {"c": list(place.compound_ids), "t0": t0, "t1": t1}).all()
    return [(r.hour, int(r.e), int(r.x)) for r in rows]


def _key_sites(session: Session, place: Place, p: Period) -> tuple[float, float]:
    """(busiest site-hour of entries, surge hours) over the period; a surge against the same local hour
    of the 7 days before it (days without counts count as 0)."""
    if not place.key_site_ids:
        return 0.0, 0.0
    t0, t1 = _local_bounds(p)
    rows = session.execute(text(
        "SELECT t.key_site_id AS site, h.hour, sum(h.entries) AS e FROM gate_flow_hour h JOIN gate t ON t.id = h.gate_id "
        "WHERE t.key_site_id = ANY(:s) AND h.hour >= :b0 AND h.hour < :t1 GROUP BY 1, 2"),
        {"s": list(place.key_site_ids), "b0": t0 - dt.timedelta(days=SURGE_BASELINE_DAYS), "t1": t1}).all()
    tz = local_tz()
    counts = {(r.site, r.hour.astimezone(tz).replace(tzinfo=None)): int(r.e) for r in rows}
    rp = rule_params()
    peak, surges = 0, 0
    for (site, hour), e in counts.items():
        if hour < t0.replace(tzinfo=None):
            continue
        peak = max(peak, e)
        base = sum(counts.get((site, hour - dt.timedelta(days=k)), 0) for k in range(1, SURGE_BASELINE_DAYS + 1))
        base /= SURGE_BASELINE_DAYS
        if e >= rp.surge_ratio * base and e - base >= rp.surge_min_excess:
            surges += 1
    return float(peak), float(surges)


def _median_close_hours(session: Session, place: Place, p: Period) -> float | None:
    t0, t1 = _local_bounds(p)
    value = session.execute(text(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at) / 3600) "
        "FROM work_order WHERE status = 'done' AND grid_id = ANY(:g) AND closed_at >= :t0 AND closed_at < :t1"),
        {"g": list(place.grid_ids), "t0": t0, "t1": t1}).scalar()
    return None if value is None else round(float(value), 2)


def compute(session: Session, place: Place, p: Period) -> Figures:
    """Every indicator of ``place`` over ``p`` (None where the period holds no snapshot)."""
    stored, snap = _stored(session, place, p)
    values: dict[str, float | None] = {}
    for ind in INDICATORS:
        if ind.kind == "stock":
            if place.kind == "compound" and "compound" not in ind.levels:
                values[ind.key] = None
            else:
                values[ind.key] = stored.get(ind.key, {}).get(snap, 0.0) if snap else None
        elif ind.kind == "count":
            values[ind.key] = None if place.kind == "compound" else sum(stored.get(ind.key, {}).values())
    per_rule: dict[str, dict[str, float]] = defaultdict(dict)
    for key, days in stored.items():
        if ":" in key:
            name, rule = key.split(":", 1)
            per_rule[rule][name] = sum(days.values())
    if values.get("findings_confirmed") is not None:
        values["findings_right"] = (values["findings_confirmed"] or 0) + (values["findings_corrected"] or 0)
        values["findings_all"] = values["findings_right"] + (values["findings_dismissed"] or 0)
    for rule, got in per_rule.items():
        right = got.get("findings_confirmed", 0) + got.get("findings_corrected", 0)
        total = right + got.get("findings_dismissed", 0)
        got["precision"] = round(100 * right / total, 1) if total else None  # type: ignore[assignment]
    hourly = _hourly(session, place, p)
    values["entries"] = float(sum(e for _, e, _ in hourly))
    values["exits"] = float(sum(x for _, _, x in hourly))
    values["peak_hour"] = float(max((e + x for _, e, x in hourly), default=0))
    values["keysite_peak"], values["keysite_surges"] = (None, None) if place.kind == "compound" else _key_sites(session, place, p)
    values["median_close_h"] = None if place.kind == "compound" else _median_close_hours(session, place, p)
    for ind in INDICATORS:
        if ind.kind == "share":
            num, den = values.get(ind.num or ""), values.get(ind.den or "")
            values[ind.key] = round(ind.scale * num / den, 1 if ind.scale != 1 else 0) if num is not None and den else None
    daily = {k: v for k, v in stored.items() if ":" not in k}
    tz = local_tz()
    for hour, e, x in hourly:
        day = hour.astimezone(tz).date()
        daily.setdefault("entries", {})[day] = daily.get("entries", {}).get(day, 0.0) + e
        daily.setdefault("exits", {})[day] = daily.get("exits", {}).get(day, 0.0) + x
    return Figures(place, p, values, daily, dict(per_rule), hourly)


def figures_for(session: Session, viewer: Viewer, code: str, p: Period) -> Figures:
    return compute(session, resolve(session, viewer, code), p)


def change(now: float | None, before: float | None) -> str:
    """'+12 (+3.4%)' against the previous period; '—' where either side is missing."""
    if now is None or before is None:
        return "—"
    diff = now - before
    pct = f" ({diff / before * 100:+.1f}%)" if before else ""
    return f"{diff:+,.{0 if float(diff).is_integer() else 1}f}{pct}"


def fmt(key: str, value: float | None) -> str:
    """A figure as people read it: integers with separators, shares with one decimal and their unit."""
    if value is None:
        return "—"
    ind = BY_KEY.get(key)
    if ind and ind.kind == "share" and ind.unit == "%":
        return f"{value:.1f}%"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"
