"""Issue 16 items 1 and 3: the population library is no free lookup, and no deny carries a score.

Performed against the real bridge (its HTTP API, connected to PostGIS as its own database role
gridpulse_bridge, publishing to Redis): a face found only in the city's population library is searched
there only where the compound has a recorded legal basis (who, which document, until when); the device
then learns open/deny and a reason — never who, never a score —, the identification is in the audit log
with its basis, and each gate may search only so often. The bridge's role cannot read the library at all.
"""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import text

from blockdata.db import transaction
from core.config import settings
from core.events import parse_fields, stream_key
from gate_bridge.access_cache import key_hash
from gate_bridge.api import create_api
from gate_bridge.service import build_policy
from tests.gate_fixtures import NOW, GateWorld, build_gate_world, remove_gate_world
from tests.security.roles import as_role, role_dsn

FACE_LIMIT = 20  # face decisions per gate per minute for this module's bridge


@pytest.fixture(scope="module")
def bridge(database_url: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    w = build_gate_world(fake_faces_seed=16)
    second_key = f"second-{uuid.uuid4().hex}"
    with transaction() as s:  # a second gate of compound A, for the per-gate limits
        gate2 = s.execute(text("""INSERT INTO gate (code, name, kind, compound_id, key_hash, geom)
                                  SELECT :code, 'A south', kind, compound_id, :h, geom FROM gate WHERE id = :g RETURNING id"""),
                          {"code": f"TA{w.tag}-G2", "h": key_hash(second_key), "g": w.gate_a}).scalar_one()
    prefix = f"gpgatetrust:id{uuid.uuid4().hex[:6]}:"
    cfg = as_role("gridpulse_bridge", redis_prefix=prefix)
    policy = build_policy(w.compound_a, cfg, outbox_path=Path(tmp_path_factory.mktemp("outbox")) / "o.sqlite3")
    client = TestClient(create_api(policy, face_per_minute=FACE_LIMIT))
    yield {"w": w, "gate2": gate2, "key2": second_key, "client": client, "prefix": prefix, "policy": policy}
    r = redis.Redis.from_url(settings().redis_url)
    keys = list(r.scan_iter(match=prefix + "*"))
    if keys:
        r.delete(*keys)
    with transaction() as s:
        s.execute(text("DELETE FROM population_basis WHERE compound_id = :c"), {"c": w.compound_a})
    remove_gate_world(w)


def probe(w: GateWorld, who: str, seed: int) -> list[float]:
    noise = np.random.default_rng(seed).normal(scale=0.02, size=512)
    return [float(x) for x in w.embeddings[who] + noise]


def post_face(bridge: dict, vector: list[float], gate: int | None = None, key: str | None = None):  # noqa: ANN201
    w: GateWorld = bridge["w"]
    return bridge["client"].post(f"/v1/gates/{gate or w.gate_a}/face-template",
                                 json={"embedding": vector, "model_version": "w600k_mbf"},
                                 headers={"X-Gate-Key": key or w.gate_key})


def identifications(person_id: int) -> list[tuple]:
    with transaction() as s:
        return s.execute(text("""SELECT reason, detail->>'basis_id', detail->>'gate_id', role, username FROM audit_log
                                 WHERE action = 'face.population_identify' AND subject = :s ORDER BY id"""),
                         {"s": f"person:{person_id}"}).all()


def lookups(gate_id: int) -> int:
    with transaction() as s:
        return s.execute(text("SELECT count(*) FROM population_lookup WHERE gate_id = :g"), {"g": gate_id}).scalar_one()


def record_basis(compound_id: int, *, per_minute: int = 30, until: dt.datetime | None = None,
                 revoked: bool = False, document: str = "公安机关协查函 2026-118") -> int:
    with transaction() as s:
        return s.execute(text("""INSERT INTO population_basis (compound_id, granted_by, document, valid_until,
                                                               lookups_per_minute, revoked_at)
                                 VALUES (:c, 'street office legal dept. (Wang)', :d, :u, :r, :rev) RETURNING id"""),
                         {"c": compound_id, "d": document, "u": until or NOW + dt.timedelta(days=30), "r": per_minute,
                          "rev": NOW if revoked else None}).scalar_one()


def clear_basis(compound_id: int) -> None:
    with transaction() as s:
        s.execute(text("DELETE FROM population_basis WHERE compound_id = :c"), {"c": compound_id})


def test_without_a_legal_basis_the_population_library_is_not_searched(bridge: dict) -> None:
    w: GateWorld = bridge["w"]
    before = lookups(w.gate_a)
    res = post_face(bridge, probe(w, "population_only", 1))
    body = res.json()
    assert res.status_code == 200 and body["result"] == "deny" and body["reason"] == "unknown_face"
    assert body["person_id"] is None and body["score"] is None
    assert lookups(w.gate_a) == before and identifications(w.people["population_only"]) == []


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_an_expired_or_revoked_basis_switches_the_fallback_off(bridge: dict, state: str) -> None:
    w: GateWorld = bridge["w"]
    with transaction() as s:  # valid_until must lie after valid_from: an expired basis began earlier
        s.execute(text("""INSERT INTO population_basis (compound_id, granted_by, document, valid_from, valid_until, revoked_at)
                          VALUES (:c, 'someone', 'a letter', :f, :u, :r)"""),
                  {"c": w.compound_a, "f": NOW - dt.timedelta(days=60),
                   "u": NOW - dt.timedelta(days=1) if state == "expired" else NOW + dt.timedelta(days=30),
                   "r": NOW - dt.timedelta(hours=1) if state == "revoked" else None})
    try:
        before = lookups(w.gate_a)
        body = post_face(bridge, probe(w, "population_only", 2)).json()
        assert body["reason"] == "unknown_face" and body["person_id"] is None
        assert lookups(w.gate_a) == before and identifications(w.people["population_only"]) == []
    finally:
        clear_basis(w.compound_a)


@pytest.mark.parametrize("granted_by, document", [("", "a letter"), ("  ", "a letter"), ("Wang", ""), ("Wang", " ")])
def test_a_basis_needs_who_and_which_document(bridge: dict, granted_by: str, document: str) -> None:
    w: GateWorld = bridge["w"]
    with pytest.raises(psycopg.errors.CheckViolation), psycopg.connect(settings().psycopg_dsn) as conn:
        conn.execute("INSERT INTO population_basis (compound_id, granted_by, document, valid_until) VALUES (%s, %s, %s, %s)",
                     (w.compound_a, granted_by, document, NOW + dt.timedelta(days=1)))


def test_a_basis_needs_an_end(bridge: dict) -> None:
    w: GateWorld = bridge["w"]
    with pytest.raises(psycopg.errors.NotNullViolation), psycopg.connect(settings().psycopg_dsn) as conn:
        conn.execute("INSERT INTO population_basis (compound_id, granted_by, document) VALUES (%s, 'Wang', 'a letter')",
                     (w.compound_a,))


def test_with_a_basis_the_device_learns_only_deny_and_a_reason_and_the_audit_log_the_basis(bridge: dict) -> None:
    w: GateWorld = bridge["w"]
    who = w.people["population_only"]
    basis = record_basis(w.compound_a, document="协查函 2026-118")
    try:
        res = post_face(bridge, probe(w, "population_only", 3))
        body = res.json()
        assert body == {**body, "result": "deny", "reason": "no_access", "person_id": None, "score": None,
                        "pass_id": None}
        assert str(who) not in {str(v) for v in body.values()}
        audited = identifications(who)
        assert [(a[0], a[1], a[2], a[3]) for a in audited] == [("协查函 2026-118", str(basis), str(w.gate_a), "gate_bridge")]
        # the platform's own record (the stream event) names the person; the device's answer above did not
        events = [parse_fields(f) for _, f in redis.Redis.from_url(settings().redis_url).xrange(stream_key(bridge["prefix"], 0))]
        mine = [e for e in events if str(e.event_id) == body["event_id"]]
        assert len(mine) == 1 and mine[0].person_id == who and mine[0].score is None
    finally:
        clear_basis(w.compound_a)


def test_the_compound_gallery_wins_over_the_population_library(bridge: dict) -> None:
    """The owner is in both: the gallery opens, and nobody searches the city's library for them."""
    w: GateWorld = bridge["w"]
    record_basis(w.compound_a)
    try:
        before = lookups(w.gate_a)
        body = post_face(bridge, probe(w, "owner", 4)).json()
        assert body["result"] == "open" and body["person_id"] == w.people["owner"]
        assert lookups(w.gate_a) == before and identifications(w.people["owner"]) == []
    finally:
        clear_basis(w.compound_a)


def test_population_searches_are_rate_limited_per_gate(bridge: dict) -> None:
    w: GateWorld = bridge["w"]
    who = w.people["population_only"]
    record_basis(w.compound_a, per_minute=3)
    try:
        before = len(identifications(who))
        answers = [post_face(bridge, probe(w, "population_only", 10 + i)).json()["reason"] for i in range(5)]
        assert answers == ["no_access"] * 3 + ["unknown_face"] * 2  # the 4th and 5th were not searched
        assert len(identifications(who)) == before + 3
        other_gate = post_face(bridge, probe(w, "population_only", 20), gate=bridge["gate2"], key=bridge["key2"]).json()
        assert other_gate["reason"] == "no_access"  # another gate has its own allowance
        assert len(identifications(who)) == before + 4
    finally:
        clear_basis(w.compound_a)


def test_the_bridge_role_cannot_read_the_population_library_or_skip_the_narrow_call(bridge: dict) -> None:
    """Whoever holds the bridge's database credentials: no template of the library, no other compound's
    basis, no lowered threshold."""
    w: GateWorld = bridge["w"]
    record_basis(w.compound_b)  # a basis for the *other* compound only
    before = len(identifications(w.people["population_only"]))
    try:
        with psycopg.connect(role_dsn("gridpulse_bridge"), autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM face_template WHERE library IN ('population', 'app')").fetchone()[0] == 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT person_id FROM face_consent")
            vector = probe(w, "population_only", 30)
            own = conn.execute("SELECT outcome FROM gp_population_identify(%s, %s, %s::real[], 0.35, 0.05)",
                               (w.compound_a, w.gate_a, vector)).fetchone()
            assert own == ("no_basis",)
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="not a gate of compound"):
                conn.execute("SELECT outcome FROM gp_population_identify(%s, %s, %s::real[], 0.35, 0.05)",
                             (w.compound_b, w.gate_a, vector))
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="threshold"):
                conn.execute("SELECT outcome FROM gp_population_identify(%s, %s, %s::real[], 0.0, 0.0)",
                             (w.compound_b, w.gate_b, vector))
        assert len(identifications(w.people["population_only"])) == before
    finally:
        clear_basis(w.compound_b)


def test_a_role_without_the_grant_cannot_call_the_population_library(bridge: dict) -> None:
    w: GateWorld = bridge["w"]
    with psycopg.connect(role_dsn("gridpulse_ingest"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT outcome FROM gp_population_identify(%s, %s, %s::real[], 0.35, 0.05)",
                         (w.compound_a, w.gate_a, probe(w, "population_only", 31)))


# --- item 3: no scores on denials, and a limit per gate --------------------------------------------


def test_no_deny_carries_a_score_so_nobody_can_climb_towards_a_template(bridge: dict) -> None:
    """A hill climb from a random face towards the owner's template: every step's deny is silent about
    how close it came, so the climb has nothing to follow."""
    w: GateWorld = bridge["w"]
    rng = np.random.default_rng(77)
    start = rng.normal(size=512)
    denies = []
    for step in range(8):
        candidate = start + rng.normal(scale=0.5, size=512)
        body = post_face(bridge, [float(x) for x in candidate], gate=bridge["gate2"], key=bridge["key2"]).json()
        denies.append(body)
    assert all(d["result"] == "deny" for d in denies)
    assert [d["score"] for d in denies] == [None] * len(denies)
    ambiguous = post_face(bridge, [float(x) for x in w.embeddings["owner"] + w.embeddings["tenant"]],
                          gate=bridge["gate2"], key=bridge["key2"]).json()
    assert ambiguous["reason"] == "ambiguous_face" and ambiguous["score"] is None and ambiguous["person_id"] is None


def test_the_template_endpoint_is_rate_limited_per_gate(bridge: dict) -> None:
    w: GateWorld = bridge["w"]
    client = TestClient(create_api(bridge["policy"], face_per_minute=5))  # a fresh allowance for this test
    vector = probe(w, "owner", 40)
    codes = [client.post(f"/v1/gates/{w.gate_a}/face-template", json={"embedding": vector, "model_version": "w600k_mbf"},
                         headers={"X-Gate-Key": w.gate_key}).status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    refused = client.post(f"/v1/gates/{w.gate_a}/face-template", json={"embedding": vector, "model_version": "w600k_mbf"},
                          headers={"X-Gate-Key": w.gate_key})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "QR, card or the guard" in refused.json()["detail"]
    other = client.post(f"/v1/gates/{bridge['gate2']}/face-template", json={"embedding": vector, "model_version": "w600k_mbf"},
                        headers={"X-Gate-Key": bridge["key2"]})
    assert other.status_code == 200 and other.json()["result"] == "open"
    card = client.post(f"/v1/gates/{w.gate_a}/card", json={"person_id": w.people["owner"]}, headers={"X-Gate-Key": w.gate_key})
    assert card.status_code == 200 and card.json()["result"] == "open"  # the limit is on faces, not on the other ways in
