"""The gate bridge: QR codes (every failure a deny with its reason), visitor passes, face templates
with threshold and margin, gate keys, and every decision on the stream."""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import numpy as np
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import text

from core.config import load_secrets, settings
from core.events import parse_fields, stream_key
from gate_bridge.access_cache import key_hash
from gate_bridge.api import create_api
from gate_bridge.qr_codes import resident_code, visitor_code
from gate_bridge.service import build_policy
from geodata.db import transaction
from geodata.synthetic import run_seed

NOW = dt.datetime.now(dt.timezone.utc)
GATE_KEY = "test-gate-key"


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    run_seed(preset="tiny", seed=5, anchor=dt.date.today(), reset=True)
    rng = np.random.default_rng(1)
    with transaction() as s:
        gate_id = s.execute(text("SELECT id FROM gate WHERE compound_id = 1 ORDER BY id LIMIT 1")).scalar_one()
        s.execute(text("UPDATE gate SET key_hash = :h WHERE id = :g"), {"h": key_hash(GATE_KEY), "g": gate_id})
        residents = s.execute(text(
            """SELECT p.id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
               WHERE b.compound_id = 1 ORDER BY p.id LIMIT 2""")).scalars().all()
        outsider = s.execute(text(
            """SELECT p.id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
               WHERE b.compound_id = 2 ORDER BY p.id LIMIT 1""")).scalar_one()
        dwelling, owner = s.execute(text(
            """SELECT o.dwelling_id, o.person_id FROM ownership o JOIN dwelling d ON d.id = o.dwelling_id
               JOIN building b ON b.id = d.building_id WHERE b.compound_id = 1 LIMIT 1""")).one()
        passes = {}
        for name, entries, revoked in (("once", 1, False), ("revoked", 2, True)):
            pid = uuid.uuid4()
            s.execute(text(
                """INSERT INTO visitor_pass (id, dwelling_id, issued_by_person_id, visitor_name, valid_from, valid_to,
                   entries_allowed, revoked_at) VALUES (:i, :d, :o, :n, :f, :t, :e, :r)"""),
                {"i": pid, "d": dwelling, "o": owner, "n": name, "f": NOW - dt.timedelta(hours=1),
                 "t": NOW + dt.timedelta(hours=5), "e": entries, "r": NOW if revoked else None})
            passes[name] = pid
        faces = {}
        for pid, library in ((residents[0], "app"), (residents[1], "app"), (outsider, "population")):
            vec = rng.normal(size=512).astype(np.float32)
            vec /= np.linalg.norm(vec)
            faces[pid] = vec
            s.execute(text(
                """INSERT INTO face_template (person_id, library, model_version, embedding, consent_at)
                   VALUES (:p, CAST(:l AS face_library), 'w600k_mbf', :e, now())"""),
                {"p": pid, "l": library, "e": [float(x) for x in vec]})
    prefix = f"gptest:g{uuid.uuid4().hex[:6]}:"
    cfg = dataclasses.replace(settings(), redis_prefix=prefix)
    policy = build_policy(1, cfg, outbox_path=Path(tmp_path_factory.mktemp("outbox")) / "o.sqlite3")
    yield {"policy": policy, "gate": gate_id, "residents": residents, "outsider": outsider, "passes": passes,
           "faces": faces, "prefix": prefix, "client": TestClient(create_api(policy))}
    r = redis.Redis.from_url(settings().redis_url)
    keys = list(r.scan_iter(match=prefix + "*"))
    if keys:
        r.delete(*keys)


def sign():  # noqa: ANN201
    s = load_secrets()
    return s.qr_signing_key, s.qr_key_id


def post_qr(world: dict, payload: str) -> dict:
    res = world["client"].post(f"/v1/gates/{world['gate']}/qr", json={"payload": payload}, headers={"X-Gate-Key": GATE_KEY})
    assert res.status_code == 200, res.text
    return res.json()


def test_resident_code_opens_once(world: dict) -> None:
    key, kid = sign()
    code = resident_code(key, kid, world["residents"][0], 1)
    first = post_qr(world, code)
    assert first["result"] == "open" and first["person_id"] == world["residents"][0]
    assert post_qr(world, code)["reason"] == "qr_replayed"


@pytest.mark.parametrize("case, reason", [
    ("expired", "qr_expired"), ("future", "qr_not_yet_valid"), ("forged", "qr_bad_signature"),
    ("other_key", "qr_unknown_key"), ("garbage", "qr_malformed"), ("other_compound", "qr_other_compound"),
    ("outsider", "no_access"),
])
def test_every_bad_code_is_denied_with_its_reason(world: dict, case: str, reason: str) -> None:
    key, kid = sign()
    person = world["residents"][1]
    payload = {
        "expired": lambda: resident_code(key, kid, person, 1, now=NOW - dt.timedelta(minutes=5)),
        "future": lambda: resident_code(key, kid, person, 1, now=NOW + dt.timedelta(minutes=5)),
        "forged": lambda: _flip(resident_code(key, kid, person, 1)),
        "other_key": lambda: resident_code(Ed25519PrivateKey.generate(), "0badc0de", person, 1),
        "garbage": lambda: "GP1.%%%not-base64",
        "other_compound": lambda: resident_code(key, kid, person, 2),
        "outsider": lambda: resident_code(key, kid, world["outsider"], 1),
    }[case]()
    decision = post_qr(world, payload)
    assert decision["result"] == "deny" and decision["reason"] == reason


def _flip(code: str) -> str:
    i = len(code) // 2
    return code[:i] + ("A" if code[i] != "A" else "B") + code[i + 1:]


def test_visitor_passes_count_entries_and_honour_revocation(world: dict) -> None:
    key, kid = sign()
    once = visitor_code(key, kid, world["passes"]["once"], 1, NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=5))
    assert post_qr(world, once)["result"] == "open"
    assert post_qr(world, once)["reason"] == "pass_used_up"
    revoked = visitor_code(key, kid, world["passes"]["revoked"], 1, NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=5))
    assert post_qr(world, revoked)["reason"] == "pass_revoked"
    unknown = visitor_code(key, kid, uuid.uuid4(), 1, NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=5))
    assert post_qr(world, unknown)["reason"] == "pass_unknown"
    with transaction() as s:
        used = s.execute(text("SELECT entries_used FROM visitor_pass WHERE id = :i"), {"i": world["passes"]["once"]}).scalar_one()
    assert used == 1


def post_face(world: dict, vec: np.ndarray, **kw) -> dict:  # noqa: ANN003
    body = {"embedding": [float(x) for x in vec], "model_version": "w600k_mbf", **kw}
    res = world["client"].post(f"/v1/gates/{world['gate']}/face-template", json=body, headers={"X-Gate-Key": GATE_KEY})
    assert res.status_code == 200, res.text
    return res.json()


def test_face_templates_need_threshold_and_margin(world: dict) -> None:
    rng = np.random.default_rng(9)
    a, b = (world["faces"][p] for p in world["residents"])
    same = a + rng.normal(scale=0.03, size=512)
    decision = post_face(world, same)
    assert decision["result"] == "open" and decision["person_id"] == world["residents"][0] and decision["score"] > 0.8
    between = post_face(world, a + b)  # equally like two residents: no margin, no door
    assert between["result"] == "deny" and between["reason"] == "ambiguous_face"
    outsider = post_face(world, world["faces"][world["outsider"]] + rng.normal(scale=0.03, size=512))
    assert outsider["reason"] == "no_access" and outsider["person_id"] == world["outsider"]


def test_unknown_faces_are_kept_as_one_pseudonymous_stranger(world: dict) -> None:
    rng = np.random.default_rng(11)
    face = rng.normal(size=512)
    first = post_face(world, face)
    second = post_face(world, face + rng.normal(scale=0.02, size=512))
    assert first["reason"] == second["reason"] == "unknown_face"
    with transaction() as s:
        strangers = s.execute(text("SELECT count(DISTINCT stranger_id), min(expires_at) FROM face_template WHERE library = 'stranger'")).one()
    assert strangers[0] == 1 and strangers[1] > NOW + dt.timedelta(days=6)
    entries = redis.Redis.from_url(settings().redis_url).xrange(stream_key(world["prefix"], 0))
    events = [parse_fields(f) for _, f in entries]
    sightings = [e.stranger_id for e in events if e.reason == "unknown_face"]
    assert len(sightings) == 2 and sightings[0] == sightings[1] is not None


@pytest.mark.parametrize("gate_key, gate_offset, status", [("wrong", 0, 401), (None, 0, 401), (GATE_KEY, 999, 401)])
def test_unknown_gates_and_wrong_keys_are_refused(world: dict, gate_key: str | None, gate_offset: int, status: int) -> None:
    headers = {"X-Gate-Key": gate_key} if gate_key else {}
    res = world["client"].post(f"/v1/gates/{world['gate'] + gate_offset}/qr", json={"payload": "GP1.x"}, headers=headers)
    assert res.status_code == status


@pytest.mark.parametrize("body", [{"embedding": [0.1] * 100, "model_version": "w600k_mbf"},
                                  {"embedding": [0.0] * 512, "model_version": "w600k_mbf"},
                                  {"embedding": [0.1] * 512, "model_version": "other"},
                                  {"payload": 5}])
def test_bad_bodies_get_a_4xx_not_a_500(world: dict, body: dict) -> None:
    res = world["client"].post(f"/v1/gates/{world['gate']}/face-template", json=body, headers={"X-Gate-Key": GATE_KEY})
    assert res.status_code == 422


def test_every_decision_is_an_event_and_health_reports(world: dict) -> None:
    res = world["client"].post(f"/v1/gates/{world['gate']}/exit", json={"method": "face"}, headers={"X-Gate-Key": GATE_KEY})
    assert res.json()["result"] == "open"
    entries = redis.Redis.from_url(settings().redis_url).xrange(stream_key(world["prefix"], 0))
    events = [parse_fields(f) for _, f in entries]
    assert events[-1].direction == "out" and str(events[-1].event_id) == res.json()["event_id"]
    assert {e.result for e in events} == {"open", "deny"}
    health = world["client"].get("/v1/health").json()
    assert health["redis"] is True and health["gallery_size"] == 2 and health["outbox_depth"] == 0
