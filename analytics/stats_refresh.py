"""The daily aggregates behind the indicator set: ``place_stat_day``, refreshed incrementally.

Why a table and not live queries: the 统计 page, the wall's trends and the weekly report must cost
what they show, not what the base holds (DESIGN: "every view must cost what it shows or what
changed"). A refresh recomputes only

- the *count* indicators of the days that can still change — from the last refreshed day (or
  ``BACKFILL_DAYS`` back on a fresh base) to today — each from the rows dated on those days
  (relations, alerts, work orders, declarations: never the event table), and
- the *stock* indicators (population, coverage, open work) as a snapshot of today, kept day by day so
  last week's figures stay what they were last week.

Gate flows need no refresh: ``gate_flow_hour`` is kept by triggers on ``gate_flow_minute`` as the
ingest worker lands events (migration 0011). Days are local days (``GRIDPULSE_TIMEZONE``).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.population import EVERYWHERE, live_population, realtime_population
from core.config import local_tz
from core.errors import InvalidInput

BACKFILL_DAYS = 120
# One refresh at a time (two viewers opening 统计 at the same moment would insert the same rows twice):
# a transaction-level advisory lock, released at commit; the second one then finds today fresh.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('gridpulse.stat_refresh'))")
LIVE_TOLERANCE = dt.timedelta(minutes=1)  # a refresh "now" this close to the database's clock reads the maintained numbers
RECENT_DAYS = 2  # today and yesterday: what a late event or a night's closing can still change

Row = tuple[dt.date, str, int, str, float]

# One row per person at home, with the flags the stock indicators count. Summed per grid and per compound.
# Who holds a credential is collected once into hash-joined sets (a per-person EXISTS over the access
# views, which are unions, took seconds on a street).
_PEOPLE = """
WITH face AS (SELECT DISTINCT person_id FROM face_template WHERE library = 'app' AND consent_at IS NOT NULL
                                                           AND person_id IS NOT NULL),
     qr AS (SELECT DISTINCT person_id FROM (SELECT person_id, compound_id FROM access_allowed WHERE compound_id IS NOT NULL
                                            EXCEPT SELECT person_id, compound_id FROM access_barred) allowed),
     registered AS (SELECT DISTINCT m.person_id, h.dwelling_id FROM household_member m JOIN household h ON h.id = m.household_id)
SELECT b.grid_id, b.compound_id,
       count(*) AS pop_actual,
       count(*) FILTER (WHERE p.residence_kind = 'registered') AS pop_registered,
       count(*) FILTER (WHERE p.residence_kind = 'resident') AS pop_resident,
       count(*) FILTER (WHERE p.residence_kind = 'floating') AS pop_floating,
       count(*) FILTER (WHERE p.residence_kind = 'overseas') AS pop_overseas,
       count(*) FILTER (WHERE here.person_id IS NULL) AS sep_living_unregistered,
       count(*) FILTER (WHERE face.person_id IS NOT NULL) AS cov_face_n,
       count(*) FILTER (WHERE face.person_id IS NOT NULL OR qr.person_id IS NOT NULL) AS cov_credential_n,
       count(*) FILTER (WHERE p.phone_masked IS NOT NULL
           AND EXISTS (SELECT 1 FROM household_member m WHERE m.person_id = p.id)
           AND (p.residence_kind NOT IN ('floating', 'overseas') OR p.temp_residence_expiry >= :day)) AS records_complete_n
FROM person p
JOIN dwelling d ON d.id = p.home_dwelling_id
JOIN building b ON b.id = d.building_id
LEFT JOIN face ON face.person_id = p.id
LEFT JOIN qr ON qr.person_id = p.id
LEFT JOIN registered here ON here.person_id = p.id AND here.dwelling_id = p.home_dwelling_id
GROUP BY GROUPING SETS ((b.grid_id), (b.compound_id))
"""

_HOUSEHOLDS_AWAY = """
SELECT b.grid_id, b.compound_id, count(*) AS sep_registered_away
FROM household_member m JOIN household h ON h.id = m.household_id
JOIN dwelling d ON d.id = h.dwelling_id JOIN building b ON b.id = d.building_id
JOIN person p ON p.id = m.person_id
WHERE p.home_dwelling_id IS DISTINCT FROM h.dwelling_id
GROUP BY GROUPING SETS ((b.grid_id), (b.compound_id))
"""

_DWELLINGS = """
SELECT b.grid_id, b.compound_id, count(*) AS dwellings,
       count(*) FILTER (WHERE d.use = 'vacant'
           OR EXISTS (SELECT 1 FROM person p WHERE p.home_dwelling_id = d.id)
           OR EXISTS (SELECT 1 FROM rental r WHERE r.dwelling_id = d.id AND r.start_date <= :day
                      AND (r.end_date IS NULL OR r.end_date >= :day))) AS dwellings_known_n
FROM dwelling d JOIN building b ON b.id = d.building_id
GROUP BY GROUPING SETS ((b.grid_id), (b.compound_id))
"""

_AREAS = """
SELECT id AS grid_id, NULL::int AS compound_id, ST_Area(geom::geography) / 1e6 AS area_km2 FROM grid
UNION ALL
SELECT NULL, id, ST_Area(geom::geography) / 1e6 FROM compound
"""

_OPEN_WORK = """
SELECT g.id AS grid_id, NULL::int AS compound_id,
       (SELECT count(*) FROM work_order w WHERE w.grid_id = g.id AND w.status IN ('assigned', 'in_progress')
        AND w.due_at < :now) AS orders_overdue,
       (SELECT count(*) FROM alert a WHERE a.grid_id = g.id AND a.status IN ('open', 'dispatched')) AS alerts_open
FROM grid g
"""

_STOCK_QUERIES = (_PEOPLE, _HOUSEHOLDS_AWAY, _DWELLINGS, _AREAS, _OPEN_WORK)

# Count indicators of local days [:d0, :d1]: (grid_id, day, indicator, value), per rule where it says so.
_LOCAL_DAY = "(({col}) AT TIME ZONE :tz)::date"
_COUNTS = f"""
SELECT b.grid_id, r.valid_from AS day, 'arrivals' AS indicator, count(*) AS value
  FROM relation r JOIN dwelling d ON d.id = r.dwelling_id JOIN building b ON b.id = d.building_id
  WHERE r.kind = 'lives_in' AND r.valid_from BETWEEN :d0 AND :d1 GROUP BY 1, 2
UNION ALL
SELECT b.grid_id, r.valid_to, 'departures', count(*)
  FROM relation r JOIN dwelling d ON d.id = r.dwelling_id JOIN building b ON b.id = d.building_id
  WHERE r.kind = 'lives_in' AND r.valid_to BETWEEN :d0 AND :d1 GROUP BY 1, 2
UNION ALL
SELECT a.grid_id, {_LOCAL_DAY.format(col='a.created_at')}, 'arrival_alerts_opened', count(*)
  FROM alert a WHERE a.rule = 'arrival_registration' AND a.grid_id IS NOT NULL
   AND {_LOCAL_DAY.format(col='a.created_at')} BETWEEN :d0 AND :d1 GROUP BY 1, 2
UNION ALL
SELECT w.grid_id, {_LOCAL_DAY.format(col='w.closed_at')}, 'arrival_registered', count(*)
  FROM work_order w WHERE w.status = 'done' AND w.correction ->> 'kind' = 'register_resident'
   AND {_LOCAL_DAY.format(col='w.closed_at')} BETWEEN :d0 AND :d1 GROUP BY 1, 2
UNION ALL
SELECT w.grid_id, {_LOCAL_DAY.format(col='w.closed_at')}, 'departure_verified', count(*)
  FROM work_order w JOIN alert a ON a.id = w.alert_id
  WHERE a.rule = 'departure' AND w.status = 'done' AND w.outcome IN ('confirmed', 'corrected')
   AND {_LOCAL_DAY.format(col='w.closed_at')} BETWEEN :d0 AND :d1 GROUP BY 1, 2
UNION ALL
SELECT b.grid_id, {_LOCAL_DAY.format(col='s.declared_at')}, 'declarations_received', count(*)
  FROM self_declaration s JOIN dwelling d ON d.id = s.dwelling_id JOIN building b ON b.id = d.building_id
  WHERE {_LOCAL_DAY.format(col='s.declared_at')} BETWEEN :d0 AND :d1 GROUP BY 1, 2
UNION ALL
SELECT w.grid_id, {_LOCAL_DAY.format(col='w.closed_at')}, 'declarations_verified', count(*)
  FROM self_declaration s JOIN work_order w ON w.id = s.work_order_id
  WHERE s.status = 'verified' AND w.status = 'done'
   AND {_LOCAL_DAY.format(col='w.closed_at')} BETWEEN :d0 AND :d1 GROUP BY 1, 2
UNION ALL
SELECT w.grid_id, {_LOCAL_DAY.format(col='w.closed_at')}, 'orders_closed_on_time', count(*)
  FROM work_order w WHERE w.status = 'done' AND w.closed_at <= w.due_at
   AND {_LOCAL_DAY.format(col='w.closed_at')} BETWEEN :d0 AND :d1 GROUP BY 1, 2
UNION ALL
SELECT w.grid_id, {_LOCAL_DAY.format(col='w.closed_at')}, 'orders_closed', count(*)
  FROM work_order w WHERE w.status = 'done'
   AND {_LOCAL_DAY.format(col='w.closed_at')} BETWEEN :d0 AND :d1 GROUP BY 1, 2
"""
# Per rule and in total (GROUPING SETS): orders opened, and the doorstep findings by outcome.
_PER_RULE = f"""
WITH o AS (
  SELECT w.grid_id, {_LOCAL_DAY.format(col='w.created_at')} AS day, coalesce(a.rule, w.kind) AS rule,
         'orders_opened' AS indicator
  FROM work_order w LEFT JOIN alert a ON a.id = w.alert_id
  WHERE {_LOCAL_DAY.format(col='w.created_at')} BETWEEN :d0 AND :d1
  UNION ALL
  SELECT w.grid_id, {_LOCAL_DAY.format(col='w.closed_at')}, coalesce(a.rule, w.kind), 'findings_' || w.outcome
  FROM work_order w LEFT JOIN alert a ON a.id = w.alert_id
  WHERE w.status = 'done' AND {_LOCAL_DAY.format(col='w.closed_at')} BETWEEN :d0 AND :d1
)
SELECT grid_id, day, indicator, rule, count(*) AS value FROM o
GROUP BY GROUPING SETS ((grid_id, day, indicator, rule), (grid_id, day, indicator))
"""


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(local_tz()).date()


def _stock_rows(session: Session, day: dt.date, now: dt.datetime) -> list[Row]:
    """Today's snapshot: each stock figure per grid and per compound."""
    totals: dict[tuple[str, int, str], float] = {}
    params = {"day": day, "now": now}
    for sql in _STOCK_QUERIES:
        for row in session.execute(text(sql), params).mappings():
            unit = ("grid", row["grid_id"]) if row["grid_id"] is not None else ("compound", row["compound_id"])
            if unit[1] is None:
                continue  # buildings outside any compound, in the compound grouping
            for key, value in row.items():
                if key not in ("grid_id", "compound_id") and value is not None:
                    totals[(unit[0], int(unit[1]), key)] = float(value)
    for (kind, unit_id), (inside, visitors) in _realtime(session, now).items():
        totals[(kind, unit_id, "visitors_now")] = float(visitors)
        totals[(kind, unit_id, "pop_realtime")] = float(inside + visitors)
    return [(day, kind, unit_id, key, value) for (kind, unit_id, key), value in totals.items()]


def _realtime(session: Session, now: dt.datetime) -> dict[tuple[str, int], tuple[int, int]]:
    """(grid|compound, id) → (residents inside, visitors): the maintained numbers when ``now`` is the
    present (analytics/population.py ``live_population``, milliseconds), else recomputed at ``now``."""
    db_now = session.execute(text("SELECT now()")).scalar_one()
    present = abs(now - db_now) <= LIVE_TOLERANCE
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for kind in ("grid", "compound"):
        rows = live_population(session, EVERYWHERE, kind) if present else realtime_population(session, kind, now)
        out.update({(kind, int(p.id)): (p.inside, p.visitors) for p in rows})
    return out


def _count_rows(session: Session, d0: dt.date, d1: dt.date) -> list[Row]:
    params = {"d0": d0, "d1": d1, "tz": str(local_tz())}
    rows: list[Row] = []
    for r in session.execute(text(_COUNTS), params):
        if r.grid_id is not None:
            rows.append((r.day, "grid", int(r.grid_id), r.indicator, float(r.value)))
    for r in session.execute(text(_PER_RULE), params):
        if r.grid_id is not None:
            key = r.indicator if r.rule is None else f"{r.indicator}:{r.rule}"
            rows.append((r.day, "grid", int(r.grid_id), key, float(r.value)))
    return rows


def _write(session: Session, rows: Iterable[Row]) -> int:
    batch = [{"day": d, "k": k, "u": u, "i": i, "v": v} for d, k, u, i, v in rows]
    if batch:
        session.execute(text("INSERT INTO place_stat_day (day, unit_kind, unit_id, indicator, value) "
                             "VALUES (:day, :k, :u, :i, :v)"), batch)
    return len(batch)


def refresh(session: Session, now: dt.datetime | None = None, *, since: dt.date | None = None) -> dict[str, object]:
    """Recompute the count indicators from ``since`` (default: the last refreshed day less a day, or
    ``BACKFILL_DAYS`` on a fresh base) to today, and snapshot today's stock indicators."""
    from analytics.indicators import BY_KEY  # the kinds decide which stored rows a recount replaces

    now = now or dt.datetime.now(dt.timezone.utc)
    today = local_day(now)
    session.execute(_LOCK)
    if since is None:
        last = session.execute(text("SELECT max(day) FROM stat_refresh")).scalar()
        since = (last - dt.timedelta(days=RECENT_DAYS - 1)) if last else today - dt.timedelta(days=BACKFILL_DAYS)
        since = min(since, today - dt.timedelta(days=RECENT_DAYS - 1))
    if since > today:
        raise InvalidInput(f"--since {since} is after today ({today}): give a day on or before it", record="stats refresh")
    stock = sorted(k for k, i in BY_KEY.items() if i.kind == "stock")
    session.execute(text("DELETE FROM place_stat_day WHERE day BETWEEN :d0 AND :d1 AND NOT (indicator = ANY(:stock))"),
                    {"d0": since, "d1": today, "stock": stock})
    counted = _write(session, _count_rows(session, since, today))
    session.execute(text("DELETE FROM place_stat_day WHERE day = :d AND indicator = ANY(:stock)"), {"d": today, "stock": stock})
    snapped = _write(session, _stock_rows(session, today, now))
    session.execute(
        text("INSERT INTO stat_refresh (day, refreshed_at, snapshot) SELECT d::date, :now, d::date = :today "
             "FROM generate_series(CAST(:d0 AS date), CAST(:today AS date), interval '1 day') d "
             "ON CONFLICT (day) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, "
             "snapshot = stat_refresh.snapshot OR EXCLUDED.snapshot"),
        {"now": now, "today": today, "d0": since})
    return {"since": since.isoformat(), "today": today.isoformat(), "count_rows": counted, "stock_rows": snapped}


def refresh_if_stale(session: Session, max_age: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """Refresh when today has not been refreshed within ``max_age`` (the page and the report call this)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    session.execute(_LOCK)
    at = session.execute(text("SELECT refreshed_at FROM stat_refresh WHERE day = :d AND snapshot"),
                         {"d": local_day(now)}).scalar()
    if at is not None and now - at < max_age:
        return False
    refresh(session, now)
    return True
