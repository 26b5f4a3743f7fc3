"""The synthetic street: deterministic (digest), and its invariants hold in the database."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.config import settings
from core.errors import InvalidInput
from blockdata.db import transaction
from demo.synthetic import run_seed

ANCHOR = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def tiny(database_url: str) -> dict:
    return run_seed(preset="tiny", seed=7, anchor=ANCHOR, reset=True)


def scalar(sql: str, **params: object) -> object:
    with transaction() as s:
        return s.execute(text(sql), params).scalar_one()


def test_same_seed_same_digest_other_seed_other_digest(tiny: dict) -> None:
    again = run_seed(preset="tiny", seed=7, anchor=ANCHOR, reset=True)
    assert again["digest"] == tiny["digest"] and again["counts"] == tiny["counts"]
    other = run_seed(preset="tiny", seed=8, anchor=ANCHOR, reset=True)
    assert other["digest"] != tiny["digest"]
    restored = run_seed(preset="tiny", seed=7, anchor=ANCHOR, reset=True)
    assert restored["digest"] == tiny["digest"]


def test_few_days_still_put_every_event_in_a_day_partition(tiny: dict) -> None:
    # Injected anomalies reach back further than 2 days; their events must not fall into the default partition.
    short = run_seed(preset="tiny", seed=7, days=2, anchor=ANCHOR, reset=True)
    try:
        assert short["counts"]["access_event"] > 0
        assert scalar("SELECT count(*) FROM access_event_default") == 0
    finally:
        assert run_seed(preset="tiny", seed=7, anchor=ANCHOR, reset=True)["digest"] == tiny["digest"]


def test_seeding_again_needs_reset_or_if_empty(tiny: dict) -> None:
    with pytest.raises(InvalidInput, match="--reset"):
        run_seed(preset="tiny", seed=7, anchor=ANCHOR)
    skipped = run_seed(preset="tiny", seed=7, anchor=ANCHOR, if_empty=True)
    assert skipped["skipped"] is True and skipped["digest"] == tiny["digest"]


def test_every_building_in_exactly_one_grid_and_inside_its_compound(tiny: dict) -> None:
    assert scalar("SELECT count(*) FROM building") > 0
    assert scalar(
        """SELECT count(*) FROM building b
           WHERE (SELECT count(*) FROM grid g WHERE ST_Covers(g.geom, ST_PointOnSurface(b.geom))) <> 1"""
    ) == 0
    assert scalar(
        "SELECT count(*) FROM building b JOIN grid g ON g.id = b.grid_id WHERE NOT ST_Covers(g.geom, ST_PointOnSurface(b.geom))"
    ) == 0
    assert scalar("SELECT count(*) FROM building b JOIN compound c ON c.id = b.compound_id WHERE NOT ST_Covers(c.geom, b.geom)") == 0
    assert scalar("SELECT count(*) FROM building a JOIN building b ON a.id < b.id AND ST_Overlaps(a.geom, b.geom)") == 0


def test_grids_tile_without_overlap_and_communities_cover_them(tiny: dict) -> None:
    assert scalar(
        "SELECT coalesce(max(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0) FROM grid a JOIN grid b ON a.id < b.id AND ST_Intersects(a.geom, b.geom)"
    ) < 1.0  # m²: shared edges only
    assert scalar(
        """SELECT count(*) FROM grid g JOIN region r ON r.code = g.community_code
           WHERE ST_Area(ST_Difference(g.geom, r.geom)::geography) > 1"""
    ) == 0


def test_gates_lie_on_their_compound_boundary(tiny: dict) -> None:
    assert scalar(
        """SELECT max(ST_Distance(g.geom::geography, ST_Boundary(c.geom)::geography))
           FROM gate g JOIN compound c ON c.id = g.compound_id"""
    ) < 0.5
    assert scalar("SELECT count(*) FROM compound c WHERE (SELECT count(*) FROM gate g WHERE g.compound_id = c.id) NOT BETWEEN 2 AND 4") == 0


def test_codes_are_well_formed(tiny: dict) -> None:
    with transaction() as s:
        regions = s.execute(text("SELECT code, parent_code, level FROM region")).all()
        grids = s.execute(text("SELECT code, community_code FROM grid")).all()
        usccs = s.scalars(text("SELECT uscc FROM organisation")).all()
    assert all(re.fullmatch(r"\d{12}", r.code) for r in regions)
    assert {r.level for r in regions} == {"city", "district", "street", "community"}
    assert all(g.code.startswith(g.community_code) and len(g.code) == 15 for g in grids)
    assert all(re.fullmatch(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}", u) for u in usccs)


def test_no_plain_id_numbers_are_stored(tiny: dict) -> None:
    assert scalar("SELECT count(*) FROM person WHERE id_masked !~ '^\\d{4}\\*{10}[\\dX]{4}$' OR octet_length(id_hash) <> 32") == 0
    assert scalar("SELECT count(DISTINCT id_hash) = count(*) FROM person")


def test_grants_within_caps_except_injected_group_rentals(tiny: dict) -> None:
    over = {
        row[0]
        for row in _rows(
            """SELECT g.dwelling_id FROM access_grant g JOIN dwelling d ON d.id = g.dwelling_id
               GROUP BY g.dwelling_id, d.area_m2 HAVING count(*) > greatest(1, floor(d.area_m2 / :per_person))""",
            per_person=settings().area_per_person_m2,
        )
    }
    injected = {row[0] for row in _rows("SELECT subject_id FROM truth.injected_anomaly WHERE kind = 'group_rental'")}
    assert injected and over == injected


def test_every_injected_kind_is_present_and_events_are_in_day_partitions(tiny: dict) -> None:
    kinds = {row[0] for row in _rows("SELECT DISTINCT kind FROM truth.injected_anomaly")}
    assert kinds == {"elderly_inactive", "correction_movement", "group_rental", "arrival_registration", "departure",
                     "utility_anomaly", "keysite_surge", "visitor_overstay"}
    assert scalar("SELECT count(*) FROM access_event_default") == 0
    assert scalar("SELECT count(*) FROM access_event") == tiny["counts"]["access_event"]
    assert scalar("SELECT sum(entries + exits + denied) FROM gate_flow_minute") == tiny["counts"]["access_event"]


def test_daily_rhythm_commuters_leave_in_the_morning(tiny: dict) -> None:
    by_hour = dict(_rows(
        """SELECT extract(hour FROM ts AT TIME ZONE 'Asia/Shanghai')::int, count(*) FROM access_event
           WHERE direction = 'out' AND person_id IS NOT NULL GROUP BY 1"""
    ))
    assert by_hour.get(8, 0) > 3 * by_hour.get(3, 0) and by_hour.get(8, 0) > by_hour.get(14, 0)


def test_no_plain_id_number_anywhere_in_a_person_row(tiny: dict) -> None:
    # 18-character ID numbers (17 digits + digit or X) must not appear in any column, only hashed and masked
    # (the hash itself is left out: its hex digits can line up 18 digits by chance).
    assert scalar(r"SELECT count(*) FROM person p WHERE (to_jsonb(p) - 'id_hash')::text ~ '\d{17}[\dX]'") == 0
    assert scalar(r"SELECT count(*) FROM person_tag t WHERE ROW(t.*)::text ~ '\d{17}[\dX]'") == 0


def test_accounts_and_grid_staff(tiny: dict) -> None:
    accounts = {r.username: r for r in _rows("SELECT username, role::text AS role, jurisdiction, password_hash FROM account")}
    assert accounts["admin"].role == "admin" and accounts["admin"].jurisdiction == []
    assert accounts["street"].jurisdiction == ["320106001000"] and accounts["police"].role == "police"
    assert accounts["police"].jurisdiction == ["320106001000"]
    communities = {r[0] for r in _rows("SELECT code FROM region WHERE level = 'community'")}
    supervisors = {a.jurisdiction[0] for a in accounts.values() if a.role == "supervisor"}
    assert supervisors == communities and len(communities) >= 2
    workers = {a.jurisdiction[0] for a in accounts.values() if a.role == "worker"}
    assert workers == {r[0] for r in _rows("SELECT code FROM grid")} and len(workers) >= 3
    # Every grid names its worker (whose jurisdiction is that grid) and its community's supervisor.
    assert scalar(
        """SELECT count(*) FROM grid g JOIN account w ON w.id = g.worker_account_id JOIN account s ON s.id = g.supervisor_account_id
           WHERE w.jurisdiction = ARRAY[g.code]::varchar[] AND s.jurisdiction = ARRAY[g.community_code]::varchar[]"""
    ) == scalar("SELECT count(*) FROM grid")
    assert all(a.password_hash and "gridpulse" not in a.password_hash for a in accounts.values())


def test_communities_tile_the_street_and_places_have_their_shape(tiny: dict) -> None:
    # Community polygons cover the street with no overlap: their areas add up to the street's.
    assert scalar(
        """SELECT abs(sum(ST_Area(c.geom::geography)) - (SELECT ST_Area(geom::geography) FROM region WHERE code = '320106001000'))
           FROM region c WHERE c.parent_code = '320106001000'"""
    ) < 10.0
    assert scalar("SELECT count(*) FROM compound") >= 2 and scalar("SELECT count(*) FROM building") >= 6
    assert scalar("SELECT count(*) FROM building WHERE height_m <> floors * 3") == 0
    assert scalar("SELECT count(*) FROM dwelling d JOIN building b ON b.id = d.building_id WHERE d.floor > b.floors OR d.unit > b.units") == 0
    # Key sites are measured by counter gates, which belong to the site and not to a compound.
    assert scalar("SELECT count(*) FROM key_site k WHERE (SELECT count(*) FROM gate g WHERE g.key_site_id = k.id) NOT BETWEEN 1 AND 2") == 0
    assert scalar("SELECT count(*) FROM gate WHERE (kind = 'counter') <> (key_site_id IS NOT NULL)") == 0
    assert scalar("SELECT count(*) FROM address WHERE kind = 'non_standard' AND standard_id IS NULL") == 0
    assert {r[0] for r in _rows("SELECT DISTINCT kind::text FROM address")} == {"standard", "non_standard", "virtual", "point"}


def test_event_ids_are_uuid7_from_the_event_time(tiny: dict) -> None:
    assert scalar(
        """SELECT count(*) FROM access_event
           WHERE substr(event_id::text, 15, 1) <> '7'
              OR ('x' || lpad(replace(substr(event_id::text, 1, 13), '-', ''), 16, '0'))::bit(64)::bigint
                 <> (extract(epoch FROM ts) * 1000)::bigint"""
    ) == 0
    assert scalar("SELECT count(*) FROM access_event WHERE method = 'count' AND (key_site_id IS NULL OR compound_id IS NOT NULL)") == 0
    assert scalar("SELECT count(*) FROM access_event WHERE method = 'face' AND score IS NULL") == 0
    assert {r[0] for r in _rows("SELECT DISTINCT method::text FROM access_event")} >= {
        "face", "resident_qr", "visitor_qr", "card", "manual", "count"}


def test_injected_anomalies_show_in_the_data(tiny: dict) -> None:
    # Elderly who stopped going out: no exit since the injected start (at least 4 days before the end).
    assert scalar(
        """SELECT count(*) FROM truth.injected_anomaly t JOIN access_event e ON e.person_id = t.subject_id
           WHERE t.kind = 'elderly_inactive' AND e.direction = 'out' AND e.ts >= t.starts_at"""
    ) == 0
    assert scalar(
        "SELECT min(:end - starts_at) >= interval '4 days' FROM truth.injected_anomaly WHERE kind = 'elderly_inactive'",
        end=dt.datetime.combine(ANCHOR, dt.time(), dt.timezone(dt.timedelta(hours=8))),
    )
    # Floating residents who left: no event for the last 7 days, and their permit runs out within 3 months.
    assert scalar(
        """SELECT count(*) FROM truth.injected_anomaly t JOIN access_event e ON e.person_id = t.subject_id
           WHERE t.kind = 'departure' AND e.ts >= :end - interval '7 days'""",
        end=dt.datetime.combine(ANCHOR, dt.time(), dt.timezone(dt.timedelta(hours=8))),
    ) == 0
    assert scalar(
        """SELECT count(*) FROM truth.injected_anomaly t JOIN person p ON p.id = t.subject_id
           WHERE t.kind = 'departure' AND NOT (p.residence_kind = 'floating' AND p.temp_residence_expiry <= :anchor + 92)""",
        anchor=ANCHOR,
    ) == 0
    # Injected strangers: repeatedly refused as unknown faces, always at the compound the truth names.
    assert scalar(
        """SELECT bool_and(n >= 3 AND compounds = 1 AND compound = (t.detail->>'compound_id')::int)
           FROM truth.injected_anomaly t JOIN LATERAL (
             SELECT count(*) AS n, count(DISTINCT compound_id) AS compounds, min(compound_id) AS compound FROM access_event e
             WHERE e.stranger_id = (t.detail->>'stranger_id')::uuid AND e.result = 'deny' AND e.reason = 'unknown_face') s ON true
           WHERE t.kind = 'arrival_registration'"""
    )
    # Community correction: the supervised person carries a legal basis with an expiry.
    assert scalar(
        """SELECT count(*) FROM truth.injected_anomaly t JOIN person_tag g ON g.person_id = t.subject_id
           WHERE t.kind = 'correction_movement' AND g.tag = 'community_correction'
             AND g.legal_basis IS NOT NULL AND g.legal_basis_expiry IS NOT NULL"""
    ) == scalar("SELECT count(*) FROM truth.injected_anomaly WHERE kind = 'correction_movement'")


def _rows(sql: str, **params: object) -> list:
    with transaction() as s:
        return s.execute(text(sql), params).all()


def test_people_sizes_the_city_only_and_refuses_nonsense(tiny: dict) -> None:
    for nonsense in (0, -1_000_000, 54_999, 20_000_001):
        with pytest.raises(InvalidInput, match="--people must be between 55,000"):
            run_seed(preset="city", people=nonsense, anchor=ANCHOR, reset=True)
    with pytest.raises(InvalidInput, match="whole number"):
        run_seed(preset="city", people=1.5e6, anchor=ANCHOR, reset=True)  # type: ignore[arg-type]
    for preset in ("street", "tiny"):
        with pytest.raises(InvalidInput, match="city preset only"):
            run_seed(preset=preset, people=100_000, anchor=ANCHOR, reset=True)
    # Refused before anything was touched: the tiny street is still there, unchanged.
    assert scalar("SELECT digest FROM seed_info ORDER BY id DESC LIMIT 1") == tiny["digest"]


def test_city_size_follows_people_in_streets_and_districts() -> None:
    from demo.synthetic.layout import DISTRICTS, PEOPLE_PER_STREET, city_preset, district_of_street

    assert city_preset(None).streets == 18  # the default city: about 1 M people
    assert round(1_000_000 / PEOPLE_PER_STREET) == 18
    assert city_preset(55_000).streets == 1 and city_preset(82_000).streets == 1 and city_preset(83_000).streets == 2
    assert city_preset(9_500_000).streets == 173  # a Nanjing
    # The default city: two districts of nine streets, the demo street's district (鼓楼区) first.
    assert district_of_street(18) == [0] * 9 + [1] * 9 and DISTRICTS[0] == ("320106", "鼓楼区")
    assert district_of_street(1) == [0] and district_of_street(10) == [0] * 10 and district_of_street(11)[-1] == 1
    # A Nanjing: never more districts than Nanjing has, each a contiguous run of streets.
    nanjing = district_of_street(173)
    assert set(nanjing) == set(range(len(DISTRICTS))) and nanjing == sorted(nanjing)


def test_utility_readings_are_complete_and_keep_their_keys(tiny: dict) -> None:
    dwellings = scalar("SELECT count(*) FROM dwelling")
    assert tiny["counts"]["utility_reading"] == dwellings * 90 * 3 == scalar("SELECT count(*) FROM utility_reading")
    # The account holder is the household's head; an empty dwelling has readings of 0 and no account name.
    assert scalar(
        """SELECT count(*) FROM utility_reading u WHERE (u.account_name IS NULL)
               <> NOT EXISTS (SELECT 1 FROM person p WHERE p.home_dwelling_id = u.dwelling_id)"""
    ) == 0
    assert scalar("SELECT count(*) FROM utility_reading WHERE account_name IS NULL AND value <> 0") == 0
    assert scalar("SELECT count(DISTINCT day) FROM utility_reading") == 90
    assert scalar("SELECT max(day) FROM utility_reading") == ANCHOR
    # Injected shocks: the last 3 days of electricity ×4 (spike) or ×0.1 (drop) against the days before.
    shocks = _rows(
        """SELECT t.detail->>'anomaly' AS kind,
                  avg(u.value) FILTER (WHERE u.day >= :anchor - 3) / avg(u.value) FILTER (WHERE u.day < :anchor - 3) AS factor
           FROM truth.injected_anomaly t JOIN utility_reading u ON u.dwelling_id = t.subject_id AND u.kind = 'electricity'
           WHERE t.kind = 'utility_anomaly' GROUP BY t.id, t.detail""", anchor=ANCHOR)
    assert {s.kind for s in shocks} == {"spike", "drop"}
    assert all((2.5 < s.factor < 6) if s.kind == "spike" else (s.factor < 0.2) for s in shocks)
    # The keys dropped for the bulk load are back as the migrations made them, and they hold.
    constraints = dict(_rows(
        """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'utility_reading'::regclass AND contype IN ('p', 'f')"""))
    assert constraints == {
        "pk_utility_reading": "PRIMARY KEY (dwelling_id, kind, day)",
        "fk_utility_reading_dwelling_id_dwelling": "FOREIGN KEY (dwelling_id) REFERENCES dwelling(id) ON DELETE CASCADE",
    }
    with pytest.raises(IntegrityError, match="fk_utility_reading_dwelling_id_dwelling"):
        with transaction() as s:
            s.execute(text("INSERT INTO utility_reading (dwelling_id, kind, day, value) VALUES (-1, 'gas', :d, 1)"), {"d": ANCHOR})
    with pytest.raises(IntegrityError, match="pk_utility_reading"):
        with transaction() as s:
            s.execute(text("INSERT INTO utility_reading (dwelling_id, kind, day, value) "
                           "SELECT dwelling_id, kind, day, 1 FROM utility_reading LIMIT 1"))
