"""实时人口: the real-time population of buildings, compounds, grids, communities and streets.

Method (docs/ANALYTICS.md): a resident (a person whose home dwelling is there) is counted inside unless
their last open gate event in the last ``AWAY_HOURS`` was an exit (residents with no recent event are
assumed home: most people do not pass a gate every day); visitors are the visitor passes whose last
visitor-QR entry of the last ``VISIT_HOURS`` has no exit of the same pass after it, counted at the
dwelling the pass was issued for.

Two ways to the same figure:

- :func:`live_population` reads the numbers PostGIS keeps as events land (migration 0013: counters
  per building, moved by triggers in the ingest transaction) — a few milliseconds whatever the city
  holds, for now (``at`` ≥ the last write), the viewer's jurisdiction applied before summing;
- :func:`realtime_population` recomputes from the event table (any ``as_of``, any window): what the
  reconciliation (analytics/population_reconcile.py) checks the maintained numbers against, and what
  a figure of the past is read from.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import InvalidInput

AWAY_HOURS = 48  # = gp_population_away() of migration 0013
VISIT_HOURS = 24  # = gp_population_visit()
LEVELS = ("building", "compound", "grid", "community", "street")
EVERYWHERE = ["%"]  # the LIKE pattern of the whole base (a scheduled job, the reconciliation)
# How far a read's ``at`` may lie before the database's clock: the counters hold the present only.
_PAST_TOLERANCE = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Population:
    level: str  # building | compound | grid | community | street
    id: int | str  # building, compound or grid id; a community's or street's region code
    residents: int
    inside: int
    visitors: int

    @property
    def realtime(self) -> int:
        return self.inside + self.visitors


# The level's key of a building row ``b`` (grid code ``b.grid_code``): region codes nest by prefix.
_KEYS = {
    "building": "b.id", "compound": "b.compound_id", "grid": "b.grid_id",
    "community": "left(b.grid_code, 12)", "street": "left(b.grid_code, 9) || '000'",
}

# The viewer's buildings first: every other table is joined to these, never the whole base.
_BUILDINGS = """
  SELECT b.id, b.grid_id, b.compound_id, g.code AS grid_code
  FROM grid g JOIN building b ON b.grid_id = g.id WHERE g.code LIKE ANY(:patterns) AND g.code LIKE :within
"""

# The maintained counters, less what aged past a boundary since the last expiry (a handful of rows,
# found through the partial index on exits and the index on entries).
_LIVE = f"""
WITH b AS ({_BUILDINGS}),
aged_away AS (
  SELECT d.building_id, count(*) AS n
  FROM presence_person pp JOIN person p ON p.id = pp.person_id JOIN dwelling d ON d.id = p.home_dwelling_id
  WHERE pp.is_out AND pp.last_ts <= CAST(:at AS timestamptz) - gp_population_away() GROUP BY 1
), aged_visit AS (
  SELECT d.building_id, count(*) AS n
  FROM presence_pass x JOIN visitor_pass v ON v.id = x.pass_id JOIN dwelling d ON d.id = v.dwelling_id
  WHERE x.last_in <= CAST(:at AS timestamptz) - gp_population_visit() AND gp_visit_inside(x.last_in, x.last_out)
  GROUP BY 1
), per_building AS (
  SELECT b.id, b.grid_id, b.compound_id, b.grid_code, l.residents,
         l.residents - l.away + coalesce(aa.n, 0) AS inside, l.visitors - coalesce(av.n, 0) AS visitors
  FROM b JOIN population_live l ON l.building_id = b.id
  LEFT JOIN aged_away aa ON aa.building_id = b.id LEFT JOIN aged_visit av ON av.building_id = b.id
)
"""

# From scratch: each resident's last open passage in the window (the person/ts index, one probe per
# resident of the viewer's buildings) and each pass's last entry and exit in the window.
_RECOMPUTE = f"""
WITH b AS ({_BUILDINGS}),
resident AS (
  SELECT d.building_id,
         (SELECT e.direction::text FROM access_event e
          WHERE e.person_id = p.id AND e.result = 'open' AND e.ts <= :upto
            AND e.ts > CAST(:as_of AS timestamptz) - make_interval(hours => :away)
          ORDER BY e.ts DESC, e.event_id DESC LIMIT 1) AS last_direction
  FROM b JOIN dwelling d ON d.building_id = b.id JOIN person p ON p.home_dwelling_id = d.id
), res AS (
  SELECT building_id, count(*) AS residents, count(*) FILTER (WHERE last_direction IS DISTINCT FROM 'out') AS inside
  FROM resident GROUP BY 1
), passes AS (
  SELECT e.pass_id,
         max(e.ts) FILTER (WHERE e.direction = 'in' AND e.method = 'visitor_qr' AND e.result = 'open') AS last_in,
         max(e.ts) FILTER (WHERE e.direction = 'out') AS last_out
  FROM access_event e
  WHERE e.pass_id IS NOT NULL AND e.ts <= :upto AND e.ts > CAST(:as_of AS timestamptz) - make_interval(hours => :visit)
  GROUP BY 1
), vis AS (
  SELECT d.building_id, count(*) AS n
  FROM passes x JOIN visitor_pass v ON v.id = x.pass_id JOIN dwelling d ON d.id = v.dwelling_id
  WHERE gp_visit_inside(x.last_in, x.last_out) GROUP BY 1
), per_building AS (
  SELECT b.id, b.grid_id, b.compound_id, b.grid_code, coalesce(res.residents, 0) AS residents,
         coalesce(res.inside, 0) AS inside, coalesce(vis.n, 0) AS visitors
  FROM b LEFT JOIN res ON res.building_id = b.id LEFT JOIN vis ON vis.building_id = b.id
  WHERE res.building_id IS NOT NULL OR vis.building_id IS NOT NULL
)
"""

_SUM = """
SELECT {key} AS id, sum(b.residents)::int AS residents, sum(b.inside)::int AS inside, sum(b.visitors)::int AS visitors
FROM per_building b WHERE {key} IS NOT NULL AND (b.residents <> 0 OR b.inside <> 0 OR b.visitors <> 0)
GROUP BY 1 ORDER BY 1
"""


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}, not {level!r}", record="population")
    return _KEYS[level]


def _rows(session: Session, sql: str, level: str, params: dict[str, object]) -> list[Population]:
    key = _check_level(level)
    rows = session.execute(text(sql + _SUM.format(key=key)), params).all()
    return [Population(level, r.id, r.residents, r.inside, r.visitors) for r in rows]


def live_population(session: Session, patterns: Sequence[str], level: str = "grid",
                    at: dt.datetime | None = None, *, within: str = "") -> list[Population]:
    """The maintained real-time population of the buildings whose grid matches ``patterns`` (a viewer's
    ``like_patterns``, or :data:`EVERYWHERE`) and starts with ``within``, summed per ``level``. ``at`` (default: the database's
    now) may lie ahead — what ages by then is taken out — but not in the past: the counters hold the
    present, the past is :func:`realtime_population`'s."""
    if at is not None:
        db_now = session.execute(text("SELECT now()")).scalar_one()
        if at < db_now - _PAST_TOLERANCE:
            raise InvalidInput(f"the maintained population is the present one; {at.isoformat()} is in the past "
                               "(recompute it with realtime_population)", record="population")
    return _rows(session, _LIVE.replace(":at", "coalesce(CAST(:at AS timestamptz), now())"), level,
                 {"patterns": list(patterns), "within": within + "%", "at": at})


def live_totals(session: Session, patterns: Sequence[str]) -> Population:
    """The viewer's whole jurisdiction as one figure (the wall's KPI)."""
    rows = session.execute(text(_LIVE.replace(":at", "now()") + "SELECT coalesce(sum(residents), 0)::int AS residents, "
                                "coalesce(sum(inside), 0)::int AS inside, coalesce(sum(visitors), 0)::int AS visitors "
                                "FROM per_building"), {"patterns": list(patterns), "within": "%"}).one()
    return Population("jurisdiction", "", rows.residents, rows.inside, rows.visitors)


def realtime_population(session: Session, level: str = "grid", as_of: dt.datetime | None = None,
                        away_hours: int = AWAY_HOURS, *, patterns: Sequence[str] = EVERYWHERE,
                        upto: dt.datetime | None = None, visit_hours: int = VISIT_HOURS) -> list[Population]:
    """Recompute the real-time population at ``as_of`` from the event table: passages in
    (``as_of`` − window, ``upto``], ``upto`` defaulting to ``as_of`` (the reconciliation passes no upper
    bound, as the maintained numbers count every landed event, a gate's clock a little ahead included)."""
    as_of = as_of or dt.datetime.now(dt.timezone.utc)
    params = {"patterns": list(patterns), "within": "%", "as_of": as_of, "upto": upto or as_of, "away": away_hours, "visit": visit_hours}
    return _rows(session, _RECOMPUTE, level, params)
