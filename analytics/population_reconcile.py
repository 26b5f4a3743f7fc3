"""Keep the maintained real-time population honest: expiry, and reconciliation against a recomputation.

- :func:`expire` (the scheduler, every ``GRIDPULSE_POPULATION_EXPIRE_EVERY_S``) deletes the presence
  rows whose passage aged past its boundary and takes them out of the counters; reads are right without
  it (they subtract what aged), it only keeps that set small.
- :func:`reconcile` (the scheduler, every ``GRIDPULSE_POPULATION_RECONCILE_EVERY_S``, and
  ``gridpulse population reconcile``) recomputes every building from the event table, compares,
  reports each difference (log + the ``gridpulse_population_drift`` metric) and, unless told only to
  check, rebuilds the presence rows and counters from scratch. It holds the three tables in EXCLUSIVE
  mode meanwhile (reads go on; an ingest batch waits for it, about the recomputation's time), so the
  recomputation and the counters are of the same moment.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.population import EVERYWHERE, live_population, realtime_population

log = logging.getLogger("gridpulse.population")

DRIFT = Gauge("gridpulse_population_drift", "Persons by which the maintained real-time population differed from "
              "its recomputation at the last reconciliation (sum over buildings of |residents| + |inside| + |visitors|)")
DRIFTED_BUILDINGS = Gauge("gridpulse_population_drift_buildings", "Buildings whose maintained population differed "
                          "at the last reconciliation")
REPAIRS = Counter("gridpulse_population_repairs_total", "Reconciliations that rebuilt the maintained population")

_LOCK = text("LOCK TABLE presence_person, presence_pass, population_live IN EXCLUSIVE MODE")

_REBUILD = [
    "DELETE FROM presence_person",
    "INSERT INTO presence_person (person_id, last_ts, last_event, is_out) "
    "SELECT DISTINCT ON (person_id) person_id, ts, event_id, direction = 'out' FROM access_event "
    "WHERE person_id IS NOT NULL AND result = 'open' AND ts > now() - gp_population_away() "
    "ORDER BY person_id, ts DESC, event_id DESC",
    "DELETE FROM presence_pass",
    "INSERT INTO presence_pass (pass_id, last_in, last_out) "
    "SELECT pass_id, max(ts) FILTER (WHERE direction = 'in' AND method = 'visitor_qr' AND result = 'open'), "
    "max(ts) FILTER (WHERE direction = 'out') FROM access_event "
    "WHERE pass_id IS NOT NULL AND ts > now() - gp_population_visit() GROUP BY pass_id",
    "DELETE FROM population_live",
    "INSERT INTO population_live (building_id, residents, away, visitors) "
    "SELECT b.id, coalesce(r.n, 0), coalesce(r.away, 0), coalesce(v.n, 0) FROM building b "
    "LEFT JOIN (SELECT d.building_id, count(*) AS n, count(*) FILTER (WHERE pp.is_out) AS away "
    "           FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id "
    "           LEFT JOIN presence_person pp ON pp.person_id = p.id GROUP BY 1) r ON r.building_id = b.id "
    "LEFT JOIN (SELECT d.building_id, count(*) AS n FROM presence_pass x JOIN visitor_pass vp ON vp.id = x.pass_id "
    "           JOIN dwelling d ON d.id = vp.dwelling_id WHERE gp_visit_inside(x.last_in, x.last_out) GROUP BY 1) v "
    "  ON v.building_id = b.id "
    "WHERE r.building_id IS NOT NULL OR v.building_id IS NOT NULL",
]


@dataclass(frozen=True)
class Drift:
    building_id: int
    maintained: tuple[int, int, int]  # residents, inside, visitors
    recomputed: tuple[int, int, int]

    @property
    def persons(self) -> int:
        return sum(abs(a - b) for a, b in zip(self.maintained, self.recomputed))


@dataclass
class Reconciliation:
    at: dt.datetime
    buildings: int
    drift: list[Drift] = field(default_factory=list)
    repaired: bool = False

    @property
    def drift_persons(self) -> int:
        return sum(d.persons for d in self.drift)

    def as_dict(self) -> dict[str, object]:
        return {"at": self.at.isoformat(), "buildings": self.buildings, "drifted_buildings": len(self.drift),
                "drift_persons": self.drift_persons, "repaired": self.repaired,
                "examples": [{"building": d.building_id, "maintained": d.maintained, "recomputed": d.recomputed}
                             for d in self.drift[:10]]}


def expire(session: Session, at: dt.datetime | None = None) -> dict[str, int]:
    """Delete presence rows aged past their boundary at ``at`` (default now), out of the counters too."""
    row = session.execute(text("SELECT * FROM gp_population_expire(coalesce(CAST(:at AS timestamptz), now()))"),
                          {"at": at}).one()
    return {"people": int(row.people), "passes": int(row.passes)}


def reconcile(session: Session, *, repair: bool = True) -> Reconciliation:
    """Recompute every building, compare with the maintained numbers, report and (``repair``) rebuild."""
    session.execute(_LOCK)
    at = session.execute(text("SELECT now()")).scalar_one()
    expire(session, at)
    maintained = {p.id: (p.residents, p.inside, p.visitors)
                  for p in live_population(session, EVERYWHERE, "building")}
    recomputed = {p.id: (p.residents, p.inside, p.visitors)
                  for p in realtime_population(session, "building", at, upto=dt.datetime.max.replace(tzinfo=dt.timezone.utc))}
    zero = (0, 0, 0)
    drift = [Drift(int(b), maintained.get(b, zero), recomputed.get(b, zero))  # type: ignore[arg-type]
             for b in sorted(set(maintained) | set(recomputed), key=int)
             if maintained.get(b, zero) != recomputed.get(b, zero)]
    report = Reconciliation(at, len(set(maintained) | set(recomputed)), drift)
    DRIFT.set(report.drift_persons)
    DRIFTED_BUILDINGS.set(len(drift))
    if drift:
        log.warning("real-time population drifted in %d buildings by %d persons (e.g. %s)%s", len(drift),
                    report.drift_persons, [(d.building_id, d.maintained, d.recomputed) for d in drift[:5]],
                    "; rebuilding" if repair else "; not repaired (check only)")
        if repair:
            for statement in _REBUILD:
                session.execute(text(statement))
            report.repaired = True
            REPAIRS.inc()
    else:
        log.info("real-time population reconciled: %d buildings, no drift", report.buildings)
    return report
