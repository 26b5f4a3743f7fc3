"""水电气: a dwelling's recent use against its own usual use — spike, drop, or (near) zero use while occupied.

Usual use is the mean of the previous 28 days on which the dwelling was lived in (days far below its
own typical level, when the people were away, are left out), so a family back from a holiday is not
a spike. Presence is evidence, not registration: a dwelling is occupied when its people (residents,
grantees, lessees) show activity at the gates in the recent days or last came in rather than out; a
dwelling whose people all went out days ago and have not come back is empty, and near-zero use there
is normal. Where no gate sees the dwelling's people, a partial drop is still reported, saying that
their presence is unknown; near-zero use there is read as an empty flat. Missing readings are never
read as zero: the recent days must all be there.

Each series' figures are kept as readings land (``utility_baseline``, migration 0015); a sweep reads
the months of only the series those figures say may be anomalous, and decides on them here.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterator

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding, ids_of, iso, local_today, only, passage_words, rows, streamed
from blockdata.models import Severity

NAME = "utility_anomaly"
VERSION = "2"
AWAY_DAY_SHARE = 0.2  # a baseline day below this share of the dwelling's typical day: its people were away
NEAR_ZERO_SHARE = 0.05


def _presence(session: Session, as_of: dt.datetime, p: RuleParams, dwellings: list[int]) -> dict[int, tuple[str, object]]:
    """dwelling → ("present" | "away", latest passage of its people); dwellings without passages are absent."""
    result = rows(
        session,
        """
        WITH people AS (
          SELECT home_dwelling_id AS dwelling_id, id AS person_id FROM person WHERE home_dwelling_id = ANY(CAST(:ids AS integer[]))
          UNION SELECT dwelling_id, grantee_person_id FROM access_grant
          WHERE dwelling_id = ANY(CAST(:ids AS integer[])) AND revoked_at IS NULL AND valid_from <= :as_of AND (valid_to IS NULL OR valid_to > :as_of)
          UNION SELECT dwelling_id, lessee_person_id FROM rental
          WHERE dwelling_id = ANY(CAST(:ids AS integer[])) AND start_date <= :today AND (end_date IS NULL OR end_date >= :today)
        )
        SELECT pp.dwelling_id, pp.person_id, last.ts, last.direction, last.method, last.gate, last.event_id
        FROM people pp
        CROSS JOIN LATERAL (
          SELECT e.ts, e.direction::text AS direction, e.method::text AS method, g.name AS gate, e.event_id
          FROM access_event e LEFT JOIN gate g ON g.id = e.gate_id
          WHERE e.person_id = pp.person_id AND e.result = 'open' AND e.method <> 'count'
            AND e.ts <= :as_of AND e.ts > CAST(:as_of AS timestamptz) - make_interval(days => :lookback)
          ORDER BY e.ts DESC LIMIT 1
        ) last
        """,
        ids=dwellings, as_of=as_of, today=local_today(as_of), lookback=p.lookback_days,
    )
    gone_before = as_of - dt.timedelta(days=max(1, p.utility_recent_days - 1))
    out: dict[int, tuple[str, object]] = {}
    for r in sorted(result, key=lambda r: r.ts):
        here = r.direction == "in" or r.ts > gone_before
        state = out.get(r.dwelling_id)
        if here:
            out[r.dwelling_id] = ("present", r)
        elif state is None or state[0] == "away":
            out[r.dwelling_id] = ("away", r)
    return out


def _series(session: Session, first: dt.date, today: dt.date,
            dwellings: list[int] | None) -> Iterator[tuple[tuple[int, str], list[tuple[dt.date, float]]]]:
    """Each (dwelling, kind)'s readings from ``first`` to ``today`` in day order, one series at a time.

    Why streamed: a month of a city's readings (35 M rows at 1 M people) held at once took more memory
    than the machine had; ordered by dwelling and kind from a server-side cursor, one series is held."""
    key: tuple[int, str] | None = None
    values: list[tuple[dt.date, float]] = []
    for r in streamed(session, "SELECT dwelling_id, kind::text AS kind, day, value FROM utility_reading "
                               f"WHERE day BETWEEN :first AND :today{only(dwellings, 'dwelling_id', 'dwellings')} "
                               "ORDER BY dwelling_id, kind, day", first=first, today=today, dwellings=dwellings):
        if (r.dwelling_id, r.kind) != key:
            if key is not None:
                yield key, values
            key, values = (r.dwelling_id, r.kind), []
        values.append((r.day, float(r.value)))
    if key is not None:
        yield key, values


# The window utility_baseline is kept for (migration 0015); a rule run with another computes from the readings.
MAINTAINED_WINDOW = (3, 28)

# A series whose figures could make it a spike, a near-zero or a drop: the tests below, each loosened by
# ``EPS`` (relative), so every series Python finds anomalous is among them (means and deviations from SQL
# differ from Python's in the last bits; the typical day and the days lived in are the same).
EPS = 1e-9
_MAY_BE = """
f.n_recent = :recent AND f.n_base >= :half AND f.typical > 0 AND f.n_lived >= :quarter AND (
  (f.mean_recent > f.base * :spike * (1 - :eps) AND f.mean_recent > (f.base + :sigmas * f.sd) * (1 - :eps))
  OR f.max_recent <= :zero * f.base * (1 + :eps) OR f.mean_recent < f.base * :drop * (1 + :eps))"""


def _may_be_anomalous(session: Session, today: dt.date, p: RuleParams, dwellings: list[int] | None) -> list[int]:
    """The dwellings with a series that may be anomalous on ``today``, from the maintained figures.

    Why: deciding needs each series' month of readings; reading them all (36 M rows at 1 M people) took
    450 s. The figures kept as readings land (``utility_baseline``) narrow the month down to the few
    series worth reading; those Python decides on exactly, as before. Series whose figures are for a later
    day (a sweep as of the past), or a window other than the maintained one, are computed for ``today``
    from their readings by the same SQL (``gp_utility_figures``)."""
    bounds = {"recent": p.utility_recent_days, "half": p.utility_baseline_days // 2,
              "quarter": p.utility_baseline_days // 4, "spike": p.utility_spike_ratio, "sigmas": p.utility_spike_sigmas,
              "zero": NEAR_ZERO_SHARE, "drop": p.utility_drop_ratio, "eps": EPS}
    where = only(dwellings, "f.dwelling_id", "dwellings")
    computed = """SELECT DISTINCT f.dwelling_id FROM gp_utility_figures(
                    ARRAY(SELECT dwelling_id FROM targets), ARRAY(SELECT kind FROM targets), ARRAY(SELECT CAST(:today AS date) FROM targets),
                    :recent, :baseline) f WHERE """ + _MAY_BE
    if (p.utility_recent_days, p.utility_baseline_days) == MAINTAINED_WINDOW:
        found = {r[0] for r in rows(session, f"SELECT DISTINCT f.dwelling_id FROM utility_baseline f WHERE f.day = :today{where} "
                                             f"AND {_MAY_BE}", today=today, dwellings=dwellings, **bounds)}
        targets = f"SELECT f.dwelling_id, f.kind FROM utility_baseline f WHERE f.day > :today{where}"
    else:
        found = set()
        targets = f"SELECT DISTINCT f.dwelling_id, f.kind FROM utility_reading f WHERE f.day = :today{where}"
    found |= {r[0] for r in rows(session, f"WITH targets AS MATERIALIZED ({targets}) {computed}", today=today,
                                 dwellings=dwellings, baseline=p.utility_baseline_days, **bounds)}
    return sorted(found)


def find(session: Session, as_of: dt.datetime, p: RuleParams, scope=None, notes: dict | None = None) -> list[Finding]:  # noqa: ANN001
    """``notes`` (a full sweep's): gets ``candidates``, the dwellings whose readings show an anomaly before
    presence is asked — the same until the day changes or readings come, so an incremental sweep looks only
    at those of them whose people passed (analytics/incremental.py)."""
    today = local_today(as_of)
    dwellings = ids_of(scope.dwellings) if scope is not None else None
    first = today - dt.timedelta(days=p.utility_recent_days + p.utility_baseline_days - 1)
    recent_from = today - dt.timedelta(days=p.utility_recent_days - 1)
    candidates = []
    examine = _may_be_anomalous(session, today, p, dwellings)
    for (dwelling, kind), values in (_series(session, first, today, examine) if examine else ()):
        recent = [v for d, v in values if d >= recent_from]
        base_all = [v for d, v in values if d < recent_from]
        if len(recent) < p.utility_recent_days or len(base_all) < p.utility_baseline_days // 2:
            continue  # missing readings are not zeros
        typical = statistics.quantiles(base_all, n=4)[2] if len(base_all) >= 4 else max(base_all)
        lived = [v for v in base_all if v >= AWAY_DAY_SHARE * typical]
        if typical <= 0 or len(lived) < p.utility_baseline_days // 4:
            continue  # no usual use to compare with (vacant, or away most of the baseline)
        base, sd = statistics.fmean(lived), statistics.stdev(lived) if len(lived) > 1 else 0.0
        mean = statistics.fmean(recent)
        if mean > base * p.utility_spike_ratio and mean > base + p.utility_spike_sigmas * sd:
            anomaly = "spike"
        elif max(recent) <= NEAR_ZERO_SHARE * base:
            anomaly = "zero_use"
        elif mean < base * p.utility_drop_ratio:
            anomaly = "drop"
        else:
            continue
        candidates.append((dwelling, kind, anomaly, mean, base, sd, recent))
    if notes is not None:
        notes["candidates"] = sorted({c[0] for c in candidates})
    if not candidates:
        return []
    presence = _presence(session, as_of, p, sorted({c[0] for c in candidates}))
    places = {r.id: r for r in rows(session, "SELECT d.id, d.code, b.grid_id, ST_AsText(ST_PointOnSurface(b.geom)) AS point "
                                            "FROM dwelling d JOIN building b ON b.id = d.building_id WHERE d.id = ANY(CAST(:ids AS integer[]))",
                                    ids=sorted({c[0] for c in candidates}))}
    findings = []
    for dwelling, kind, anomaly, mean, base, sd, recent in candidates:
        state, last = presence.get(dwelling, ("unknown", None))
        confidence = 0.75
        if anomaly == "zero_use":
            if state != "present":
                continue  # nobody there, or nobody seen: an empty flat uses nothing
            anomaly = "zero_use_occupied"
        elif anomaly == "drop":
            if state == "away":
                continue
            if state == "unknown":
                confidence = 0.5
        ratio = mean / base
        says = [f"{kind}: {', '.join(f'{v:g}' for v in recent)} in the last {len(recent)} days against usually "
                f"{base:.2f} a day ({ratio:.2f}×)"]
        if last is not None:
            says.append(f"{'someone is there' if state == 'present' else 'everyone away'}: "
                        f"last passage of its people {passage_words(last.direction, last.method, last.ts, last.gate)}")
        else:
            says.append("no gate passage of the dwelling's people on record: whether anyone is there is unknown")
        place = places[dwelling]
        findings.append(Finding(
            rule=NAME, rule_version=VERSION,
            severity=Severity.medium if anomaly in ("spike", "zero_use_occupied") else Severity.low,
            confidence=confidence, subject_kind="dwelling", subject_id=dwelling, grid_id=place.grid_id,
            point_wkt=place.point, dedup_subject=f"{dwelling}:{kind}",
            evidence={"anomaly": anomaly, "utility": kind, "recent": recent, "recent_mean": round(mean, 2),
                      "baseline_mean": round(base, 2), "baseline_sd": round(sd, 2), "ratio": round(ratio, 2),
                      "presence": state, "last_passage": iso(last.ts) if last is not None else None,
                      "events": [str(last.event_id)] if last is not None else [],
                      "readings": f"utility_reading {place.code} {kind} {recent_from}…{today}", "says": says},
        ))
    return findings
