"""A viewer's numbers are the whole city's numbers for their area, and nothing of another area enters them.

Community A (grids A1, A2: the compound with its gate, building A1) and community B (grid B1, building
B1, outside any compound) of tests/places.py, with people, passages, visitors and alerts in both. Each
reader of the map, the wall and the drill-down is asked for a community-A account and checked against the
whole-city recomputation (analytics/population.py ``realtime_population``) restricted to A afterwards,
then B's data is changed and A's numbers must not move.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from analytics.population import realtime_population
from blockdata.db import transaction
from core.viewer import Role, Viewer
from dashboard.live import kpis, population_by_grid
from layers.buildings import building_rows
from layers.gates import visible_gates, window_flows
from layers.grids import grid_rows
from tests import analytics_cases as C
from tests import places as P

H = dt.timedelta(hours=1)
A = Viewer(None, Role.supervisor, (P.COMMUNITY_A,), "sup-a")
B = Viewer(None, Role.supervisor, (P.COMMUNITY_B,), "sup-b")
STREET = Viewer(None, Role.street, (P.STREET,), "street")


@pytest.fixture
def city(database_url: str) -> dict:
    with transaction() as s:
        pl = P.build(s)
        gate, compound = P.compound_gate(s)
        t = s.execute(text("SELECT now()")).scalar_one()
        for i in range(3):  # community A: three more residents, two of them out
            pid = C.person(s, pl.dwelling_a1, f"甲{i}")
            if i < 2:
                C.event(s, t - (i + 1) * H, gate, person_id=pid, compound_id=compound)
        for i in range(4):  # community B: four more residents, all out (through the same gate)
            pid = C.person(s, pl.dwelling_b1, f"乙{i}")
            C.event(s, t - 2 * H, gate, person_id=pid, compound_id=compound)
        s.execute(text("INSERT INTO alert (rule, severity, confidence, subject_kind, subject_id, grid_id, dedup_key) "
                       "VALUES ('group_rental', 'medium', 0.9, 'dwelling', :d, :g, 'group_rental:dwelling:' || :d), "
                       "       ('group_rental', 'medium', 0.9, 'building', :b, :gb, 'group_rental:building:' || :b)"),
                  {"d": pl.dwelling_a1, "g": pl.grid_a1, "b": pl.building_b1, "gb": pl.grid_b1})
    return {"p": pl, "gate": gate, "compound": compound}


def whole_city_by_grid() -> dict[int, int]:
    with transaction() as s:
        return {int(p.id): p.realtime for p in realtime_population(s, "grid")}


def test_a_viewers_population_is_the_whole_citys_for_their_grids(city: dict) -> None:
    pl = city["p"]
    whole = whole_city_by_grid()
    assert whole == {pl.grid_a1: 4 - 2, pl.grid_b1: 5 - 4}  # 王建国 + 甲0..2, two out; 李秀英 + 乙0..3, four out
    with transaction() as s:
        mine = population_by_grid(s, A)
        rows = grid_rows(s, A)
        wall = kpis(s, A)
        street = kpis(s, STREET)
    assert mine == {pl.grid_a1: whole[pl.grid_a1]}
    assert {r["id"]: r["population"] for r in rows} == {pl.grid_a1: 2, pl.grid_a2: 0}
    assert wall.population == 2 and street.population == 3


def test_another_areas_data_does_not_enter(city: dict) -> None:
    pl = city["p"]
    with transaction() as s:
        before = (population_by_grid(s, A), kpis(s, A).population, grid_rows(s, A), building_rows(s, A))
        # Everything in community B changes: its people come home, a new one moves in, its alert closes.
        s.execute(text("UPDATE alert SET status = 'closed' WHERE subject_kind = 'building'"))
        C.person(s, pl.dwelling_b1, "乙新")
        for pid in s.scalars(text("SELECT id FROM person WHERE name LIKE '乙%'")):
            C.event(s, s.execute(text("SELECT now()")).scalar_one() - dt.timedelta(minutes=5), city["gate"],
                    person_id=pid, direction="in", compound_id=city["compound"])
    with transaction() as s:
        after = (population_by_grid(s, A), kpis(s, A).population, grid_rows(s, A), building_rows(s, A))
        b_now = population_by_grid(s, B)
    assert after == before
    assert b_now == {pl.grid_b1: 1 + 5}  # and B's own numbers did move
    assert whole_city_by_grid()[pl.grid_b1] == 6


def test_buildings_gates_and_flows_of_the_viewer_only(city: dict) -> None:
    pl = city["p"]
    with transaction() as s:
        mine = building_rows(s, A)
        theirs = building_rows(s, B)
        within = building_rows(s, STREET, within=P.COMMUNITY_B)
        gates_a, gates_b = visible_gates(s, A), visible_gates(s, B)
        t = s.execute(text("SELECT now()")).scalar_one()
        s.execute(text("INSERT INTO gate_flow_minute (gate_id, minute, entries, exits, denied) "
                       "VALUES (:g, date_trunc('minute', CAST(:t AS timestamptz)) - interval '3 hours', 0, 7, 0)"),
                  {"g": city["gate"], "t": t})
        flows_mine = window_flows(s, t - 4 * H, t - H, [g["id"] for g in gates_a])
        flows_none = window_flows(s, t - 4 * H, t - H, [g["id"] for g in gates_b])
    assert [(b["id"], b["alerts"], b["residents"]) for b in mine] == [(pl.building_a1, 1, 4)]
    json.dumps(mine + theirs)  # the rows go out as JSON (the cached /layers/buildings.json route): plain numbers
    assert [(b["id"], b["alerts"], b["residents"]) for b in theirs] == [(pl.building_b1, 1, 5)]
    assert [b["id"] for b in within] == [pl.building_b1]
    assert [g["id"] for g in gates_a] == [city["gate"]] and gates_b == []
    assert flows_mine[city["gate"]]["out"] >= 7 and flows_none == {}
    with transaction() as s:
        assert [g["code"] for g in grid_rows(s, STREET, within=P.COMMUNITY_B)] == [P.COMMUNITY_B + "001"]
        assert grid_rows(s, A, within=P.COMMUNITY_B) == []  # a prefix outside the jurisdiction gives nothing
