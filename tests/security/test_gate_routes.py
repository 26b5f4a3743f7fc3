"""Issue 16 item 4: face is never the only way through. Card and the guard's manual registration have HTTP
routes on the bridge, documented in its OpenAPI, authenticated by the gate's key like the others, and
every decision is a stream event like the others. The attacks: no key, a wrong key, another compound's
gate, malformed bodies — each refused, and none leaves an event behind."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from core.config import settings
from core.events import parse_fields, stream_key
from gate_bridge.api import create_api
from gate_bridge.service import build_policy
from tests.gate_fixtures import GateWorld, build_gate_world, remove_gate_world
from tests.security.roles import as_role


@pytest.fixture(scope="module")
def bridge(database_url: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    w = build_gate_world(fake_faces_seed=4)
    prefix = f"gpgatetrust:r{uuid.uuid4().hex[:6]}:"
    policy = build_policy(w.compound_a, as_role("gridpulse_bridge", redis_prefix=prefix),
                          outbox_path=Path(tmp_path_factory.mktemp("o")) / "o.sqlite3")
    yield {"w": w, "client": TestClient(create_api(policy)), "prefix": prefix}
    r = redis.Redis.from_url(settings().redis_url)
    keys = list(r.scan_iter(match=prefix + "*"))
    if keys:
        r.delete(*keys)
    remove_gate_world(w)


def events(bridge: dict) -> dict[str, object]:
    entries = redis.Redis.from_url(settings().redis_url).xrange(stream_key(bridge["prefix"], 0))
    return {str(e.event_id): e for e in (parse_fields(f) for _, f in entries)}


def test_both_routes_are_documented(bridge: dict) -> None:
    paths = bridge["client"].get("/openapi.json").json()["paths"]
    for route in ("/v1/gates/{gate_id}/card", "/v1/gates/{gate_id}/manual"):
        assert "post" in paths[route], route
        params = {p["name"] for p in paths[route]["post"]["parameters"]}
        assert {"gate_id", "x-gate-key"} <= params


@pytest.mark.parametrize("who, result, reason", [("owner", "open", None), ("tenant", "open", None),
                                                 ("revoked", "deny", "grant_revoked"), ("blacklisted", "deny", "blacklisted"),
                                                 ("outsider", "deny", "no_access")])
def test_a_card_decides_like_the_other_ways_in_and_is_an_event(bridge: dict, who: str, result: str, reason: str | None) -> None:
    w: GateWorld = bridge["w"]
    res = bridge["client"].post(f"/v1/gates/{w.gate_a}/card", json={"person_id": w.people[who]}, headers={"X-Gate-Key": w.gate_key})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["result"] == result and body["reason"] == reason and body["method"] == "card" and body["score"] is None
    event = events(bridge)[body["event_id"]]
    assert (event.method, event.result, event.direction, event.person_id, event.gate_id) == \
        ("card", result, "in", w.people[who], w.gate_a)


@pytest.mark.parametrize("direction", ["in", "out"])
def test_the_guard_registers_by_hand_always_open_and_recorded(bridge: dict, direction: str) -> None:
    w: GateWorld = bridge["w"]
    res = bridge["client"].post(f"/v1/gates/{w.gate_a}/manual", json={"direction": direction}, headers={"X-Gate-Key": w.gate_key})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["result"] == "open" and body["method"] == "manual" and body["person_id"] is None
    event = events(bridge)[body["event_id"]]
    assert (event.method, event.result, event.direction, event.person_id) == ("manual", "open", direction, None)


@pytest.mark.parametrize("route, body", [("card", {"person_id": 1}), ("manual", {"direction": "in"})])
@pytest.mark.parametrize("attack", ["no key", "wrong key", "other compound's gate", "unknown gate"])
def test_without_the_gate_s_key_nothing_opens_and_nothing_is_recorded(bridge: dict, route: str, body: dict, attack: str) -> None:
    w: GateWorld = bridge["w"]
    gate, headers = {
        "no key": (w.gate_a, {}),
        "wrong key": (w.gate_a, {"X-Gate-Key": w.gate_key + "x"}),
        "other compound's gate": (w.gate_b, {"X-Gate-Key": w.gate_key}),  # B's gate, right key, A's bridge
        "unknown gate": (999999, {"X-Gate-Key": w.gate_key}),
    }[attack]
    before = len(events(bridge))
    res = bridge["client"].post(f"/v1/gates/{gate}/{route}", json=body, headers=headers)
    assert res.status_code == 401 and "gate key" in res.json()["detail"]
    assert len(events(bridge)) == before


@pytest.mark.parametrize("route, body", [
    ("card", {}), ("card", {"person_id": -3}), ("card", {"person_id": "owner"}), ("card", {"person_id": 2**70}),
    ("manual", {"direction": "sideways"}), ("manual", {"direction": "in", "person_id": 0}),
])
def test_bad_bodies_get_a_422_that_says_what_to_fix_and_record_nothing(bridge: dict, route: str, body: dict) -> None:
    w: GateWorld = bridge["w"]
    before = len(events(bridge))
    res = bridge["client"].post(f"/v1/gates/{w.gate_a}/{route}", json=body, headers={"X-Gate-Key": w.gate_key})
    assert res.status_code == 422
    assert res.json()["detail"][0]["loc"][-1] in {"person_id", "direction"}
    assert len(events(bridge)) == before
