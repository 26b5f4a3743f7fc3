"""重点场所 people flow for police: in/out per bucket, occupancy, peak and surge markers over a window.

Counts only (from the per-minute gate rollups of the sites' counters), no people. Occupancy is the
running sum of in − out from the window's start, never below zero: a counter does not know who was
inside when the window began. A bucket is a surge when it is at least ``surge_ratio`` times the usual
volume of the same time of day over the ``BASELINE_DAYS`` before the window, and exceeds it by a
minimum (the same parameters as the keysite_surge rule): a school's morning peak is usual, not a surge.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.params import RuleParams, params as rule_params
from core.errors import InvalidInput
from core.viewer import Viewer
from blockdata import queries

MAX_SPAN = dt.timedelta(days=31)
BASELINE_DAYS = 7


@dataclass(frozen=True)
class SiteInfo:
    id: int
    code: str
    name: str
    category: str
    capacity: int | None
    grid_code: str


@dataclass(frozen=True)
class Bucket:
    start: dt.datetime
    entries: int
    exits: int
    occupancy: int
    surge: bool


@dataclass(frozen=True)
class SiteFlow:
    site: SiteInfo
    buckets: tuple[Bucket, ...]
    total_in: int
    total_out: int
    peak_occupancy: int
    peak_at: dt.datetime | None


def visible_sites(session: Session, viewer: Viewer) -> list[SiteInfo]:
    rows = session.execute(text(
        """SELECT k.id, k.code, k.name, k.category::text AS category, k.capacity, g.code AS grid
           FROM key_site k JOIN grid g ON g.id = k.grid_id WHERE g.code LIKE ANY(:p) ORDER BY k.code"""),
        {"p": viewer.like_patterns}).all()
    return [SiteInfo(r.id, r.code, r.name, r.category, r.capacity, r.grid) for r in rows]


def site_flows(session: Session, viewer: Viewer, site_ids: list[int], start: dt.datetime, end: dt.datetime,
               *, bucket_minutes: int = 15, params: RuleParams | None = None) -> list[SiteFlow]:
    """Flows of the chosen sites; a site outside the viewer's jurisdiction is refused (and audited)."""
    if not site_ids or end <= start or end - start > MAX_SPAN or bucket_minutes not in (5, 15, 30, 60):
        raise InvalidInput("choose sites, a window of at most 31 days, and 5/15/30/60-minute buckets",
                           record=viewer.username)
    sites = {s.id: s for s in visible_sites(session, viewer)}
    for sid in site_ids:
        if sid not in sites:
            raise queries.deny(session, viewer, f"key_site:{sid}", f"key site {sid} is outside your jurisdiction")
    p = params or rule_params()
    query = text(
        """SELECT g.key_site_id AS site, to_timestamp(floor(extract(epoch FROM f.minute) / (:b * 60)) * :b * 60) AS bucket,
                  sum(f.entries) AS entries, sum(f.exits) AS exits
           FROM gate_flow_minute f JOIN gate g ON g.id = f.gate_id
           WHERE g.key_site_id = ANY(:ids) AND f.minute >= :start AND f.minute < :end
           GROUP BY 1, 2 ORDER BY 1, 2""")
    rows = session.execute(query, {"ids": list(site_ids), "start": start, "end": end, "b": bucket_minutes}).all()
    base_start = start - dt.timedelta(days=BASELINE_DAYS)
    baseline: dict[tuple[int, int], float] = {}
    for r in session.execute(query, {"ids": list(site_ids), "start": base_start, "end": start, "b": bucket_minutes}):
        key = (r.site, int(r.bucket.timestamp()) % 86400)
        baseline[key] = baseline.get(key, 0.0) + (int(r.entries) + int(r.exits)) / BASELINE_DAYS
    by_site: dict[int, dict[dt.datetime, tuple[int, int]]] = {sid: {} for sid in site_ids}
    for r in rows:
        by_site[r.site][r.bucket] = (int(r.entries), int(r.exits))
    step = dt.timedelta(minutes=bucket_minutes)
    first = dt.datetime.fromtimestamp((int(start.timestamp()) // (bucket_minutes * 60)) * bucket_minutes * 60, tz=dt.timezone.utc)
    out = []
    for sid in site_ids:
        series = by_site[sid]
        stamps = []
        t = first
        while t < end:
            stamps.append(t)
            t += step
        volumes = [sum(series.get(s, (0, 0))) for s in stamps]
        excess = max(1, p.surge_min_excess * bucket_minutes // 60)
        occupancy, peak, peak_at, buckets = 0, 0, None, []
        for stamp, volume in zip(stamps, volumes):
            n_in, n_out = series.get(stamp, (0, 0))
            occupancy = max(0, occupancy + n_in - n_out)
            if occupancy > peak:
                peak, peak_at = occupancy, stamp
            usual = baseline.get((sid, int(stamp.timestamp()) % 86400), 0.0)
            surge = volume >= max(p.surge_ratio * usual, usual + excess)
            buckets.append(Bucket(stamp, n_in, n_out, occupancy, surge))
        out.append(SiteFlow(sites[sid], tuple(buckets), sum(b.entries for b in buckets), sum(b.exits for b in buckets),
                            peak, peak_at))
    return out


def flows_csv(flows: list[SiteFlow], tz: dt.tzinfo) -> str:
    lines = ["site_code,site_name,bucket_start,entries,exits,occupancy,surge"]
    for f in flows:
        for b in f.buckets:
            lines.append(f"{f.site.code},{f.site.name},{b.start.astimezone(tz).isoformat()},{b.entries},{b.exits},"
                         f"{b.occupancy},{int(b.surge)}")
    return "\n".join(lines) + "\n"
