"""The indicator set (docs/INDICATORS.md) against independent SQL over the seeded `tiny` street.

The street is seeded and swept, then a day of real activity happens through the product's own
functions (doorstep findings with corrections, a self-declaration and its verification, a face
enrolment, visitors landing through the ingest writer, closings on both sides of local midnight).
The daily aggregates are refreshed twice (that evening and just after midnight). Every figure the
page shows is then recomputed here straight from the base tables — and flows from the raw
``access_event`` rows, not the rollups — with queries written for this test, not copied from
analytics/stats_refresh.py or analytics/figures.py.
"""
from __future__ import annotations

import datetime as dt
import statistics
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text

from analytics import figures as F
from analytics.indicators import BY_KEY, INDICATORS
from analytics.params import params as rule_params
from analytics.stats_refresh import refresh
from analytics.work_orders import record_finding
from blockdata.db import ensure_event_partitions, transaction
from blockdata.models import Alert, AuditLog, FaceLibrary, FaceTemplate, Person, VisitorPass, WorkOrder
from core.config import local_tz, settings
from core.errors import AccessDenied, InvalidInput, NotFound
from core.events import uuid7
from core.viewer import SYSTEM, Role, Viewer
from ingest.writer import land
from residents.declarations import declare
from tests.places import id_number
from tests.seeded import seed_tiny_swept

TZ = local_tz()
D = dt.date(2026, 11, 20)  # the local day of the activity (the seed's anchor)
STREET, COMMUNITY = "320106001000", "320106001005"


def at(hour: int, minute: int = 0, day: dt.date = D) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), TZ)


def _order(session, rule: str) -> WorkOrder:  # noqa: ANN001
    """The first work order the sweep dispatched for an alert of ``rule``."""
    return session.scalars(select(WorkOrder).where(WorkOrder.alert_id.in_(select(Alert.id).where(Alert.rule == rule)))
                           .order_by(WorkOrder.id)).first()


def _events(rows: list[tuple[dt.datetime, int, int, str, str, str | None]]) -> list[dict[str, str]]:
    out = []
    for ts, gate, compound, direction, method, pass_id in rows:
        f = {"v": "1", "event_id": str(uuid7(int(ts.timestamp() * 1000))), "ts": ts.astimezone(dt.timezone.utc).isoformat(),
             "gate_id": str(gate), "compound_id": str(compound), "direction": direction, "method": method, "result": "open",
             "reason": "ok"}
        if pass_id:
            f["pass_id"] = pass_id
        out.append(f)
    return out


@pytest.fixture(scope="module")
def day(database_url: str) -> dict[str, Any]:
    """The seeded street after a day of activity, refreshed at 18:00 and again at 01:00 the next day."""
    seed_tiny_swept(D)
    facts: dict[str, Any] = {}
    with transaction() as s:
        admin = SYSTEM
        arrival, departure = _order(s, "arrival_registration"), _order(s, "departure")
        elderly, utility = _order(s, "elderly_inactive"), _order(s, "utility_anomaly")
        home_dwelling = s.execute(text("SELECT home_dwelling_id FROM person WHERE home_dwelling_id IS NOT NULL "
                                       "ORDER BY id LIMIT 1")).scalar_one()
        born = dt.date(1990, 5, 5)
        record_finding(s, admin, arrival.id, outcome="corrected", notes="新住户，已登记",
                       correction={"kind": "register_resident", "dwelling_id": home_dwelling, "name": "新住户",
                                   "id_number": id_number(777, born), "birth_date": born.isoformat(), "sex": "F",
                                   "residence_kind": "floating"}, now=at(10))
        departed = s.get(WorkOrder, departure.id)
        person_id = s.execute(text("SELECT subject_id FROM alert WHERE id = :a"), {"a": departed.alert_id}).scalar_one()
        record_finding(s, admin, departure.id, outcome="corrected", notes="已搬离",
                       correction={"kind": "person_departed", "person_id": person_id}, now=at(11))
        # 00:01 local is still the previous day in UTC: a UTC-day count would put it on the 19th
        record_finding(s, admin, elderly.id, outcome="dismissed", notes="老人在家，一切正常", now=at(0, 1))
        # a floating resident declares another dwelling; the worker confirms it the same afternoon
        decl_person = s.scalars(select(Person).where(Person.residence_kind == "floating", Person.home_dwelling_id.is_not(None))
                                .order_by(Person.id.desc())).first()
        other = s.execute(text("SELECT id FROM dwelling WHERE id <> :d AND use = 'vacant' ORDER BY id LIMIT 1"),
                          {"d": decl_person.home_dwelling_id}).scalar_one()
        view = declare(s, decl_person, dwelling_id=other, period_from=D, period_to=None, relation_to_owner="tenant", now=at(9))
        record_finding(s, admin, view.work_order_id, outcome="confirmed", notes="核实属实", now=at(15))
        # one consented face enrolment and one phone number on record
        enrolled = s.execute(text("SELECT id FROM person WHERE home_dwelling_id IS NOT NULL ORDER BY id LIMIT 1 OFFSET 3")).scalar_one()
        s.add(FaceTemplate(person_id=enrolled, library=FaceLibrary.app, model_version="test", embedding=[0.01] * 512,
                           consent_at=at(8)))
        s.execute(text("UPDATE person SET phone_masked = '138****0001' WHERE id IN "
                       "(SELECT person_id FROM household_member ORDER BY person_id LIMIT 5)"))
        # two visitor passes at a compound dwelling: one visitor still inside, one who left
        owner, pass_dwelling, compound = s.execute(text(
            "SELECT o.person_id, o.dwelling_id, b.compound_id FROM ownership o JOIN dwelling d ON d.id = o.dwelling_id "
            "JOIN building b ON b.id = d.building_id WHERE b.compound_id IS NOT NULL ORDER BY o.id LIMIT 1")).one()
        gate = s.execute(text("SELECT id FROM gate WHERE compound_id = :c ORDER BY id LIMIT 1"), {"c": compound}).scalar_one()
        passes = []
        for _ in range(2):
            vp = VisitorPass(dwelling_id=pass_dwelling, issued_by_person_id=owner, visitor_name="访客", valid_from=at(8),
                             valid_to=at(20), entries_allowed=2)
            s.add(vp)
            s.flush()
            passes.append(str(vp.id))
        ensure_event_partitions(s, "2026-11-19", "2026-11-22")
        facts["compound"] = compound
    with psycopg.connect(settings().database_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        land(conn, _events([(at(9), gate, compound, "in", "visitor_qr", passes[0]),
                            (at(9, 30), gate, compound, "in", "visitor_qr", passes[1]),
                            (at(12), gate, compound, "out", "visitor_qr", passes[1])]))
        # and again, in the same minute as the first entry: the rollup's UPDATE path through the trigger
        land(conn, _events([(at(9, 0) + dt.timedelta(seconds=20), gate, compound, "in", "card", None)]))
    with transaction() as s:
        refresh(s, at(18))
    facts["evening"] = independent_stock(at(18))
    with transaction() as s:
        utility = s.get(WorkOrder, _order(s, "utility_anomaly").id)
        # closed 30 s into the next local day: in the week, not in the day
        record_finding(s, SYSTEM, utility.id, outcome="confirmed", notes="确有异常", now=at(0, 0, D + dt.timedelta(days=1)) + dt.timedelta(seconds=30))
    with transaction() as s:
        refresh(s, at(1, 0, D + dt.timedelta(days=1)))
    facts["night"] = independent_stock(at(1, 0, D + dt.timedelta(days=1)))
    return facts


# --- the independent computations -----------------------------------------------------------------

def _grid_ids(s, code: str) -> list[int]:  # noqa: ANN001
    if code.isdigit():
        return list(s.scalars(text("SELECT id FROM grid WHERE left(code, :n) = :p"),
                              {"n": len(_prefix(code)), "p": _prefix(code)}))
    return []


def _prefix(code: str) -> str:
    if len(code) == 15 or not code.endswith("000"):
        return code
    return code[:9] if not code.endswith("000000") else code[:6]


def _stock_for(s, where: str, params: dict, now: dt.datetime) -> dict[str, float]:  # noqa: ANN001
    """Stock figures of the people/dwellings whose building satisfies ``where`` (on alias b)."""
    q = lambda sql: float(s.execute(text(sql), params | {"now": now, "day": now.astimezone(TZ).date()}).scalar() or 0)  # noqa: E731
    home = f"FROM person p, dwelling d, building b WHERE d.id = p.home_dwelling_id AND b.id = d.building_id AND {where}"
    out = {
        "pop_actual": q(f"SELECT count(*) {home}"),
        "pop_registered": q(f"SELECT count(*) {home} AND p.residence_kind = 'registered'"),
        "pop_resident": q(f"SELECT count(*) {home} AND p.residence_kind = 'resident'"),
        "pop_floating": q(f"SELECT count(*) {home} AND p.residence_kind = 'floating'"),
        "pop_overseas": q(f"SELECT count(*) {home} AND p.residence_kind = 'overseas'"),
        "sep_living_unregistered": q(f"SELECT count(*) {home} AND p.id NOT IN (SELECT m.person_id FROM household_member m, "
                                     "household h WHERE h.id = m.household_id AND h.dwelling_id = p.home_dwelling_id)"),
        "sep_registered_away": q("SELECT count(*) FROM household_member m JOIN household h ON h.id = m.household_id "
                                 "JOIN dwelling d ON d.id = h.dwelling_id JOIN building b ON b.id = d.building_id "
                                 f"JOIN person p ON p.id = m.person_id WHERE {where} "
                                 "AND (p.home_dwelling_id IS NULL OR p.home_dwelling_id <> h.dwelling_id)"),
        "cov_face_n": q(f"SELECT count(*) {home} AND p.id IN (SELECT person_id FROM face_template WHERE library = 'app' "
                        "AND consent_at IS NOT NULL)"),
        "cov_credential_n": q(f"SELECT count(*) {home} AND (p.id IN (SELECT person_id FROM face_template WHERE library = 'app' "
                              "AND consent_at IS NOT NULL) OR p.id IN (SELECT a.person_id FROM access_allowed a "
                              "WHERE a.compound_id IS NOT NULL AND (a.person_id, a.compound_id) NOT IN "
                              "(SELECT person_id, compound_id FROM access_barred)))"),
        "records_complete_n": q(f"SELECT count(*) {home} AND p.phone_masked IS NOT NULL "
                                "AND p.id IN (SELECT person_id FROM household_member) "
                                "AND (p.residence_kind IN ('registered', 'resident') OR p.temp_residence_expiry >= :day)"),
        "dwellings": q("SELECT count(*) FROM dwelling d JOIN building b ON b.id = d.building_id WHERE " + where),
        "dwellings_known_n": q("SELECT count(*) FROM dwelling d JOIN building b ON b.id = d.building_id WHERE " + where +
                               " AND (d.use = 'vacant' OR d.id IN (SELECT home_dwelling_id FROM person WHERE home_dwelling_id "
                               "IS NOT NULL) OR d.id IN (SELECT dwelling_id FROM rental WHERE start_date <= :day "
                               "AND coalesce(end_date, :day) >= :day))"),
        "visitors_now": q("SELECT count(DISTINCT v.id) FROM visitor_pass v JOIN dwelling d ON d.id = v.dwelling_id "
                          f"JOIN building b ON b.id = d.building_id WHERE {where} AND EXISTS (SELECT 1 FROM access_event e "
                          "WHERE e.pass_id = v.id AND e.direction = 'in' AND e.result = 'open' AND e.method = 'visitor_qr' "
                          "AND e.ts BETWEEN :now - interval '24 hours' AND :now AND NOT EXISTS (SELECT 1 FROM access_event x "
                          "WHERE x.pass_id = v.id AND x.direction = 'out' AND x.ts > e.ts AND x.ts <= :now))"),
    }
    # inside unless the last open passage of the 48 h before was an exit (no passage: at home), plus visitors
    out["pop_realtime"] = q(f"SELECT count(*) {home} AND 'out' IS DISTINCT FROM (SELECT e.direction::text FROM access_event e "
                            "WHERE e.person_id = p.id AND e.result = 'open' AND e.ts <= :now "
                            "AND e.ts > :now - interval '48 hours' ORDER BY e.ts DESC LIMIT 1)") + out["visitors_now"]
    return out


def independent_stock(now: dt.datetime) -> dict[str, dict[str, float]]:
    """Stock figures per place code at ``now``, straight from the base tables."""
    with transaction() as s:
        result: dict[str, dict[str, float]] = {}
        grid_codes = list(s.scalars(text("SELECT code FROM grid ORDER BY code")))
        for code in [STREET, COMMUNITY, *grid_codes]:
            ids = _grid_ids(s, code)
            result[code] = _stock_for(s, "b.grid_id = ANY(:ids)", {"ids": ids}, now)
            result[code]["area_km2"] = float(s.execute(text(
                "SELECT coalesce(sum(ST_Area(geom::geography)), 0) / 1e6 FROM grid WHERE id = ANY(:ids)"), {"ids": ids}).scalar())
            result[code]["orders_overdue"] = float(s.execute(text(
                "SELECT count(*) FROM work_order WHERE grid_id = ANY(:ids) AND closed_at IS NULL AND status <> 'cancelled' "
                "AND due_at < :now"), {"ids": ids, "now": now}).scalar())
            result[code]["alerts_open"] = float(s.execute(text(
                "SELECT count(*) FROM alert WHERE grid_id = ANY(:ids) AND status NOT IN ('closed', 'dismissed')"),
                {"ids": ids}).scalar())
        for cid, code in s.execute(text("SELECT id, code FROM compound ORDER BY id")):
            result[code] = _stock_for(s, "b.compound_id = :c", {"c": cid}, now)
            result[code]["area_km2"] = float(s.execute(text(
                "SELECT ST_Area(geom::geography) / 1e6 FROM compound WHERE id = :c"), {"c": cid}).scalar())
        return result


def independent_counts(code: str, d0: dt.date, d1: dt.date) -> dict[str, float]:
    """Count figures of a region or grid over local days d0..d1 from the dated base rows."""
    t0, t1 = at(0, 0, d0), at(0, 0, d1 + dt.timedelta(days=1))
    with transaction() as s:
        ids = _grid_ids(s, code)
        p = {"ids": ids, "t0": t0, "t1": t1, "d0": d0, "d1": d1}
        q = lambda sql: float(s.execute(text(sql), p).scalar() or 0)  # noqa: E731
        rel = ("FROM relation r JOIN dwelling d ON d.id = r.dwelling_id JOIN building b ON b.id = d.building_id "
               "WHERE r.kind = 'lives_in' AND b.grid_id = ANY(:ids)")
        done = "FROM work_order w WHERE w.grid_id = ANY(:ids) AND w.status = 'done' AND w.closed_at >= :t0 AND w.closed_at < :t1"
        out = {
            "arrivals": q(f"SELECT count(*) {rel} AND r.valid_from BETWEEN :d0 AND :d1"),
            "departures": q(f"SELECT count(*) {rel} AND r.valid_to BETWEEN :d0 AND :d1"),
            "arrival_alerts_opened": q("SELECT count(*) FROM alert WHERE rule = 'arrival_registration' AND grid_id = ANY(:ids) "
                                       "AND created_at >= :t0 AND created_at < :t1"),
            "arrival_registered": q(f"SELECT count(*) {done} AND w.correction ->> 'kind' = 'register_resident'"),
            "departure_verified": q(f"SELECT count(*) {done} AND w.outcome <> 'dismissed' AND w.alert_id IN "
                                    "(SELECT id FROM alert WHERE rule = 'departure')"),
            "declarations_received": q("SELECT count(*) FROM self_declaration s JOIN dwelling d ON d.id = s.dwelling_id "
                                       "JOIN building b ON b.id = d.building_id WHERE b.grid_id = ANY(:ids) "
                                       "AND s.declared_at >= :t0 AND s.declared_at < :t1"),
            "declarations_verified": q(f"SELECT count(*) {done} AND w.id IN (SELECT work_order_id FROM self_declaration "
                                       "WHERE status = 'verified')"),
            "orders_opened": q("SELECT count(*) FROM work_order WHERE grid_id = ANY(:ids) AND created_at >= :t0 AND created_at < :t1"),
            "orders_closed": q(f"SELECT count(*) {done}"),
            "orders_closed_on_time": q(f"SELECT count(*) {done} AND w.closed_at <= w.due_at"),
            "findings_confirmed": q(f"SELECT count(*) {done} AND w.outcome = 'confirmed'"),
            "findings_corrected": q(f"SELECT count(*) {done} AND w.outcome = 'corrected'"),
            "findings_dismissed": q(f"SELECT count(*) {done} AND w.outcome = 'dismissed'"),
        }
        hours = [r[0] for r in s.execute(text(f"SELECT extract(epoch FROM w.closed_at - w.created_at) / 3600 {done}"), p)]
        out["median_close_h"] = round(float(statistics.median(hours)), 2) if hours else None
        return out


def independent_flows(code: str, d0: dt.date, d1: dt.date) -> dict[str, float]:
    """Entries, exits and the busiest hour from the raw events of the place's compounds' gates, and the
    key-site peak and surges from the raw counter events."""
    t0, t1 = at(0, 0, d0), at(0, 0, d1 + dt.timedelta(days=1))
    with transaction() as s:
        ids = _grid_ids(s, code) or [s.execute(text(
            "SELECT mode() WITHIN GROUP (ORDER BY grid_id) FROM building WHERE compound_id = "
            "(SELECT id FROM compound WHERE code = :c)"), {"c": code}).scalar()]
        compounds = [r[0] for r in s.execute(text(
            "SELECT compound_id FROM building WHERE compound_id IS NOT NULL GROUP BY compound_id "
            "HAVING mode() WITHIN GROUP (ORDER BY grid_id) = ANY(:ids)"), {"ids": ids})]
        if not code.isdigit():
            compounds = list(s.scalars(text("SELECT id FROM compound WHERE code = :c"), {"c": code}))
        p = {"c": compounds, "t0": t0, "t1": t1, "ids": ids}
        ev = ("FROM access_event e JOIN gate g ON g.id = e.gate_id WHERE g.compound_id = ANY(:c) "
              "AND e.ts >= :t0 AND e.ts < :t1 AND e.result = 'open'")
        entries = s.execute(text(f"SELECT count(*) {ev} AND e.direction = 'in'"), p).scalar()
        exits = s.execute(text(f"SELECT count(*) {ev} AND e.direction = 'out'"), p).scalar()
        peak = s.execute(text(f"SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n {ev} "
                              "GROUP BY date_trunc('hour', e.ts)) h"), p).scalar()
        site_hours = s.execute(text(
            "SELECT g.key_site_id, date_trunc('hour', e.ts) AS h, count(*) AS n FROM access_event e JOIN gate g ON g.id = e.gate_id "
            "WHERE g.key_site_id IN (SELECT id FROM key_site WHERE grid_id = ANY(:ids)) AND e.result = 'open' "
            "AND e.direction = 'in' AND e.ts >= CAST(:t0 AS timestamptz) - interval '7 days' AND e.ts < :t1 GROUP BY 1, 2"), p).all()
    counts = {(site, h): n for site, h, n in site_hours}
    rp = rule_params()
    in_period = [(site, h, n) for (site, h), n in counts.items() if h >= t0]
    surges = 0
    for site, h, n in in_period:
        usual = sum(counts.get((site, h - dt.timedelta(days=k)), 0) for k in range(1, 8)) / 7
        surges += n >= rp.surge_ratio * usual and n - usual >= rp.surge_min_excess
    return {"entries": float(entries), "exits": float(exits), "peak_hour": float(peak),
            "keysite_peak": float(max((n for _, _, n in in_period), default=0)), "keysite_surges": float(surges)}


# --- the checks -----------------------------------------------------------------------------------

def _figures(code: str, d0: dt.date, d1: dt.date) -> F.Figures:
    with transaction() as s:
        return F.figures_for(s, SYSTEM, code, F.period(d0, d1))


def _places() -> list[str]:
    with transaction() as s:
        return [STREET, COMMUNITY, *s.scalars(text("SELECT code FROM grid ORDER BY code")),
                *s.scalars(text("SELECT code FROM compound ORDER BY code"))]


def test_every_stock_figure_is_the_snapshot_of_its_day(day: dict) -> None:
    """The day's figures are the evening's state, the week's the last snapshot's (after midnight)."""
    week = F.iso_week("2026-W47")
    stock = [i.key for i in INDICATORS if i.kind == "stock"]
    assert day["evening"][STREET]["pop_actual"] > 100 and day["evening"][STREET]["visitors_now"] == 1
    assert day["night"][STREET]["alerts_open"] == day["evening"][STREET]["alerts_open"] - 1
    for code in _places():
        got_day, got_week = _figures(code, D, D), _figures(code, week.start, week.end)
        for key in stock:
            if code.startswith("C") and key in ("orders_overdue", "alerts_open"):
                assert got_day.values[key] is None  # a compound has no grid of its own for work
                continue
            assert got_day.values[key] == pytest.approx(day["evening"][code][key]), (code, key, "day")
            assert got_week.values[key] == pytest.approx(day["night"][code][key]), (code, key, "week")


def test_shares_divide_the_sums_not_average_the_ratios(day: dict) -> None:
    got = _figures(STREET, D, D).values
    ev = day["evening"][STREET]
    assert got["density"] == round(ev["pop_actual"] / ev["area_km2"])
    assert got["cov_credential"] == round(100 * ev["cov_credential_n"] / ev["pop_actual"], 1)
    assert got["cov_face"] == round(100 * ev["cov_face_n"] / ev["pop_actual"], 1) and got["cov_face_n"] == 1
    assert got["cov_dwellings_known"] == round(100 * ev["dwellings_known_n"] / ev["dwellings"], 1)
    assert got["cov_records_complete"] == round(100 * ev["records_complete_n"] / ev["pop_actual"], 1)
    assert 0 < got["cov_records_complete"] < 100


@pytest.mark.parametrize("span", ["day", "week", "day_before"])
def test_every_count_figure_equals_the_dated_rows(day: dict, span: str) -> None:
    d0, d1 = {"day": (D, D), "week": (F.iso_week("2026-W47").start, F.iso_week("2026-W47").end),
              "day_before": (D - dt.timedelta(days=1), D - dt.timedelta(days=1))}[span]
    for code in _places():
        if not code.isdigit():
            continue
        got, want = _figures(code, d0, d1).values, independent_counts(code, d0, d1)
        for key, value in want.items():
            if value is None:  # no order closed in the period: no median, not a median of 0
                assert got[key] is None, (code, span, key)
            else:
                assert got[key] == pytest.approx(value), (code, span, key)
    street = _figures(STREET, d0, d1).values
    if span == "day":  # what happened that day, by construction
        assert street["arrival_registered"] == 1 and street["departure_verified"] == 1
        assert street["declarations_received"] == 1 and street["declarations_verified"] == 1
        assert street["findings_dismissed"] == 1  # 00:01 local belongs to this day, not to the UTC day before
        assert street["findings_confirmed"] == 1  # the closing 30 s after midnight is not in it
        assert street["arrivals"] == 2 and street["departures"] == 1
        assert street["precision"] == round(100 * 3 / 4, 1)
    if span == "day_before":
        assert street["findings_dismissed"] == 0
    if span == "week":
        assert street["findings_confirmed"] == 2


def test_precision_per_rule_comes_from_the_findings(day: dict) -> None:
    got = _figures(STREET, D, D + dt.timedelta(days=1)).per_rule
    with transaction() as s:
        rows = s.execute(text("SELECT a.rule, w.outcome, count(*) FROM work_order w JOIN alert a ON a.id = w.alert_id "
                              "WHERE w.status = 'done' GROUP BY 1, 2")).all()
    want: dict[str, dict[str, int]] = {}
    for rule, outcome, n in rows:
        want.setdefault(rule, {})[outcome] = n
    for rule, outcomes in want.items():
        right = outcomes.get("confirmed", 0) + outcomes.get("corrected", 0)
        assert got[rule]["precision"] == round(100 * right / (right + outcomes.get("dismissed", 0)), 1), rule
    assert got["elderly_inactive"]["precision"] == 0.0 and got["utility_anomaly"]["precision"] == 100.0
    assert got["utility_anomaly"]["orders_opened"] == 2  # two utility alerts dispatched at the sweep


@pytest.mark.parametrize("span", [(D - dt.timedelta(days=1), D - dt.timedelta(days=1)), (D - dt.timedelta(days=6), D)])
def test_flow_figures_equal_the_raw_events(day: dict, span: tuple[dt.date, dt.date]) -> None:
    for code in _places():
        got, want = _figures(code, *span).values, independent_flows(code, *span)
        for key, value in want.items():
            if not code.isdigit() and key.startswith("keysite"):
                assert got[key] is None, (code, key)  # key sites belong to grids, not to compounds
            else:
                assert got[key] == value, (code, span, key)
    street = independent_flows(STREET, *span)
    assert street["entries"] > 100 and street["keysite_peak"] > 0


def test_the_visitors_landed_through_ingest_count_in_the_hourly_rollup(day: dict) -> None:
    got = _figures(STREET, D, D).values
    assert got["entries"] == 3 and got["exits"] == 1 and got["peak_hour"] == 3  # 09:00–10:00: two passes and a card


def test_a_place_outside_the_jurisdiction_is_refused_and_audited(day: dict) -> None:
    with transaction() as s:
        other_grid = s.execute(text("SELECT code FROM grid WHERE community_code <> :c ORDER BY code LIMIT 1"),
                               {"c": COMMUNITY}).scalar_one()
    viewer = Viewer(account_id=None, role=Role.supervisor, jurisdiction=(COMMUNITY,), username="sup-stats-test")
    for code in (STREET, other_grid):
        with transaction() as s, pytest.raises(AccessDenied, match="outside your jurisdiction"):
            F.figures_for(s, viewer, code, F.period(D, D))
    with transaction() as s:
        subjects = set(s.scalars(select(AuditLog.subject).where(AuditLog.username == "sup-stats-test",
                                                                AuditLog.action == "access.denied")))
        assert subjects == {f"stats:{STREET}", f"stats:{other_grid}"}
        own = F.figures_for(s, viewer, COMMUNITY, F.period(D, D))  # its own community is fine
    assert own.values["pop_actual"] == day["evening"][COMMUNITY]["pop_actual"]


def test_bad_periods_and_places_get_one_line_that_says_what_to_change(day: dict) -> None:
    with pytest.raises(InvalidInput, match="like 2026-W49"):
        F.iso_week("2026-49")
    with pytest.raises(InvalidInput, match="does not exist"):
        F.iso_week("2026-W54")
    with pytest.raises(InvalidInput, match="swap"):
        F.period(D, D - dt.timedelta(days=1))
    assert F.iso_week("2026-W49") == F.Period(dt.date(2026, 11, 30), dt.date(2026, 12, 6))
    assert F.iso_week("2026-W49").previous() == F.iso_week("2026-W48")
    with transaction() as s, pytest.raises(NotFound, match="no region 999999999999"):
        F.figures_for(s, SYSTEM, "999999999999", F.period(D, D))


def test_a_period_without_a_snapshot_shows_no_stock_figure(day: dict) -> None:
    """Population of a week before the aggregates existed is unknown, not zero."""
    got = _figures(STREET, D - dt.timedelta(days=10), D - dt.timedelta(days=9)).values
    assert got["pop_actual"] is None and got["cov_credential"] is None
    assert got["orders_opened"] == 0 and got["entries"] > 0


def test_the_indicator_list_and_its_documentation_agree() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "INDICATORS.md").read_text(encoding="utf-8")
    for ind in INDICATORS:
        assert f"`{ind.key}`" in doc, ind.key
        assert ind.label in doc, ind.label
    assert set(BY_KEY) == {i.key for i in INDICATORS}


def test_two_refreshes_at_once_wait_for_each_other(day: dict) -> None:
    """Two viewers opening 统计 at the same moment: one refreshes, the other waits and finds today fresh."""
    import threading

    from analytics.stats_refresh import refresh_if_stale

    later = at(3, 0, D + dt.timedelta(days=1))
    outcomes: list[object] = []

    def one() -> None:
        try:
            with transaction() as s:
                outcomes.append(refresh_if_stale(s, dt.timedelta(minutes=5), later))
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            outcomes.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes, key=str) == [False, True]  # exactly one refreshed, neither failed
    assert _figures(STREET, D, D).values["findings_dismissed"] == 1  # the counts are what they were
