"""The resident services end to end: real PostGIS and Redis, the real API over HTTP, the real gate bridge.

The world is the gate bridge's own test world (tests/gate_fixtures.py): an owner of dwelling a1 in
compound A (90 m², cap 6, one tenant already granted), an outsider who owns b1 in compound B, and
people with no access at all. A 45 m² dwelling a3 (cap 3) is added to the owner for the cap tests.
"""
from __future__ import annotations

import dataclasses
import os
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from analytics.work_orders import record_finding
from core.config import settings, trust_settings
from core.viewer import Role, Viewer
from gate_bridge import api as gate_api
from credentials.face_pipeline import shared_pipeline
from gate_bridge.service import build_policy
from blockdata.db import transaction
from blockdata.identity import check_digit
from blockdata.models import (AccessGrant, AuditLog, Dwelling, FaceConsent, FaceTemplate, Ownership, Person, Relation,
                            SelfDeclaration, VisitorPass, WorkOrder)
from residents.api import create_api
from residents.app_tokens import mint
from tests.browser import free_port
from tests.gate_fixtures import SHARED_FACES, build_gate_world, remove_gate_world

REVOCATION_DEADLINE_S = 5.0  # what docs and the README promise: a revocation reaches the gates within seconds


def id_number(seq: int) -> str:
    first17 = f"32010219900101{seq:03d}"
    return first17 + check_digit(first17)


@dataclasses.dataclass
class Env:
    world: object
    prefix: str
    api: TestClient
    gate: TestClient
    policy: object
    a3: int
    pids: dict[str, uuid.UUID]
    base_url: str

    def token(self, who: str, **kw: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(self.pids[who], **kw)}"}


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    # This module fires grants by the dozen (the cap under 20 parallel requests); their hourly limit has its
    # own test (tests/security/test_grants_rate_limit.py).
    os.environ["GRIDPULSE_GRANTS_PER_HOUR"] = "100000"
    trust_settings.cache_clear()
    world = build_gate_world(fake_faces_seed=11)
    with transaction() as s:
        a3 = Dwelling(code=f"T{world.tag}-a3", building_id=s.get(Dwelling, world.dwellings["a1"]).building_id, unit=1,
                      floor=3, room="301", area_m2=45, rooms=1, use="residential")
        s.add(a3)
        s.flush()
        s.add(Ownership(dwelling_id=a3.id, person_id=world.people["owner"], since=dt.date(2021, 1, 1)))
        pids = {who: s.scalar(select(Person.pid).where(Person.id == pid)) for who, pid in world.people.items()}
        a3_id = a3.id
    prefix = f"gptest:r{uuid.uuid4().hex[:6]}:"
    cfg = dataclasses.replace(settings(), redis_prefix=prefix)
    policy = build_policy(world.compound_a, cfg, outbox_path=Path(tmp_path_factory.mktemp("o")) / "o.sqlite3", refresh_s=60)
    policy.cache.start()  # LISTEN: revocations must arrive by NOTIFY, not by the (here 60 s) poll
    app = create_api(cfg)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield Env(world, prefix, TestClient(app), TestClient(gate_api.create_api(policy)), policy, a3_id, pids,
              f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)
    policy.cache.stop()
    remove_gate_world(world)
    os.environ.pop("GRIDPULSE_GRANTS_PER_HOUR", None)
    trust_settings.cache_clear()
    client = redis.Redis.from_url(settings().redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)


def count(model: type, *where: object) -> int:
    with transaction() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def gate_qr(env: Env, payload: str) -> dict:
    r = env.gate.post(f"/v1/gates/{env.world.gate_a}/qr", json={"payload": payload}, headers={"X-Gate-Key": env.world.gate_key})
    assert r.status_code == 200, r.text
    return r.json()


def gate_face(env: Env, vector: np.ndarray) -> dict:
    r = env.gate.post(f"/v1/gates/{env.world.gate_a}/face-template", headers={"X-Gate-Key": env.world.gate_key},
                      json={"embedding": [float(v) for v in vector], "model_version": "w600k_mbf"})
    assert r.status_code == 200, r.text
    return r.json()


def until(predicate, deadline_s: float) -> float:  # noqa: ANN001
    """Seconds until ``predicate()`` holds; fails past the deadline."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < deadline_s, f"not within {deadline_s} s"
        time.sleep(0.05)
    return time.monotonic() - start


# --- tokens ---------------------------------------------------------------------------------------

def test_bad_tokens_are_refused_with_401(env: Env) -> None:
    forged = mint(env.pids["owner"], key=Ed25519PrivateKey.generate())
    expired = mint(env.pids["owner"], now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2))
    too_long = mint(env.pids["owner"], lifetime=dt.timedelta(days=30))
    other_audience = mint(env.pids["owner"], aud="someone-else")
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer not.a.jwt"},
                    {"Authorization": f"Bearer {forged}"}, {"Authorization": f"Bearer {expired}"},
                    {"Authorization": f"Bearer {too_long}"}, {"Authorization": f"Bearer {other_audience}"},
                    {"Authorization": f"Bearer {mint(env.pids['owner'])[:-4]}AAAA"}):
        r = env.api.get("/v1/me/dwellings", headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["detail"]
    assert env.api.get("/v1/me", headers={"Authorization": f"Bearer {mint(uuid.uuid4())}"}).status_code == 404
    r = env.api.get("/v1/me", headers=env.token("owner"))
    assert r.status_code == 200 and r.json()["compounds"] == [env.world.compound_a]


# --- grants ---------------------------------------------------------------------------------------

def test_owner_sees_dwellings_with_cap_and_remaining_quota(env: Env) -> None:
    rows = {d["dwelling_id"]: d for d in env.api.get("/v1/me/dwellings", headers=env.token("owner")).json()}
    a1 = rows[env.world.dwellings["a1"]]
    assert (a1["cap"], a1["active_grants"], a1["remaining"]) == (6, 1, 5)  # 90 m² / 15; the tenant (revoked/expired don't count)
    assert rows[env.a3]["cap"] == 3
    assert env.world.dwellings["b1"] not in rows  # the outsider's
    grants = env.api.get(f"/v1/me/dwellings/{env.world.dwellings['a1']}/grants", headers=env.token("owner")).json()
    assert len(grants) == 3 and all("*" in g["grantee_name"] and "*" in g["grantee_id_masked"] for g in grants)


def test_acting_on_someone_elses_dwelling_is_refused_and_writes_nothing(env: Env) -> None:
    a1, b1 = env.world.dwellings["a1"], env.world.dwellings["b1"]
    tenant_grant = next(g["id"] for g in env.api.get(f"/v1/me/dwellings/{a1}/grants", headers=env.token("owner")).json()
                        if g["revoked_at"] is None)
    before = (count(AccessGrant), count(VisitorPass), count(AuditLog, AuditLog.action.notlike("access.%")))
    refusals_before = count(AuditLog, AuditLog.action == "access.denied")
    body = {"id_number": id_number(900), "name": "王五", "kind": "tenant"}
    assert env.api.post(f"/v1/me/dwellings/{a1}/grants", json=body, headers=env.token("outsider")).status_code == 403
    assert env.api.post(f"/v1/me/dwellings/{b1}/grants", json=body, headers=env.token("owner")).status_code == 403
    assert env.api.post(f"/v1/me/dwellings/{a1}/visitor-passes", json={"visitor_name": "x", "hours": 2},
                        headers=env.token("outsider")).status_code == 403
    assert env.api.get(f"/v1/me/dwellings/{a1}/grants", headers=env.token("tenant")).status_code == 403
    assert env.api.delete(f"/v1/me/grants/{tenant_grant}", headers=env.token("outsider")).status_code == 403
    assert env.api.post(f"/v1/me/dwellings/{a1}/grants", json={**body, "id_number": id_number(900)[:-1] + "0"},
                        headers=env.token("owner")).status_code == 422  # wrong check digit
    assert env.api.post(f"/v1/me/dwellings/{a1}/grants", json={**body, "valid_from": "2020-01-01T00:00:00Z"},
                        headers=env.token("owner")).status_code == 422  # starts in the past
    # nothing written but the audit line of each 403 (issue #16 item 16: every refusal is audited)
    assert (count(AccessGrant), count(VisitorPass), count(AuditLog, AuditLog.action.notlike("access.%"))) == before
    assert count(AuditLog, AuditLog.action == "access.denied") == refusals_before + 5


def test_grant_over_the_cap_is_refused(env: Env) -> None:
    headers = env.token("owner")
    url = f"/v1/me/dwellings/{env.a3}/grants"
    for i in range(3):
        r = env.api.post(url, json={"id_number": id_number(100 + i), "name": f"租客{i}", "kind": "tenant"}, headers=headers)
        assert r.status_code == 201, r.text
    dup = env.api.post(url, json={"id_number": id_number(100), "name": "租客0", "kind": "tenant"}, headers=headers)
    assert dup.status_code == 409
    over = env.api.post(url, json={"id_number": id_number(103), "name": "租客3", "kind": "tenant"}, headers=headers)
    assert over.status_code == 409 and "cap" in over.json()["detail"]
    assert count(AccessGrant, AccessGrant.dwelling_id == env.a3, AccessGrant.revoked_at.is_(None)) == 3
    # revoking one frees a place
    first = env.api.get(f"/v1/me/dwellings/{env.a3}/grants", headers=headers).json()[0]
    assert env.api.delete(f"/v1/me/grants/{first['id']}", headers=headers).json()["revoked_at"]
    assert env.api.delete(f"/v1/me/grants/{first['id']}", headers=headers).status_code == 409  # already revoked
    assert env.api.post(url, json={"id_number": id_number(103), "name": "租客3", "kind": "tenant"}, headers=headers).status_code == 201


def test_parallel_grants_never_exceed_the_cap(env: Env) -> None:
    """Twenty requests at once over real HTTP for a dwelling with one place left: exactly one wins."""
    headers = env.token("owner")
    free = next(d for d in httpx.get(f"{env.base_url}/v1/me/dwellings", headers=headers).json() if d["dwelling_id"] == env.a3)
    assert free["remaining"] == 0
    grant = env.api.get(f"/v1/me/dwellings/{env.a3}/grants", headers=headers).json()
    active = [g for g in grant if g["revoked_at"] is None]
    assert env.api.delete(f"/v1/me/grants/{active[0]['id']}", headers=headers).status_code == 200

    def attempt(i: int) -> int:
        return httpx.post(f"{env.base_url}/v1/me/dwellings/{env.a3}/grants", headers=headers, timeout=30,
                          json={"id_number": id_number(200 + i), "name": f"并发{i}", "kind": "tenant"}).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(attempt, range(20)))
    assert sorted(codes) == [201] + [409] * 19
    with transaction() as s:
        active_now = s.scalar(select(func.count()).select_from(AccessGrant).where(
            AccessGrant.dwelling_id == env.a3, AccessGrant.revoked_at.is_(None)))
    assert active_now == 3


def test_granted_person_enters_then_revocation_reaches_the_gate_within_seconds(env: Env) -> None:
    owner = env.token("owner")
    a1 = env.world.dwellings["a1"]
    r = env.api.post(f"/v1/me/dwellings/{a1}/grants", headers=owner,
                     json={"id_number": id_number(300), "name": "赵家亲戚", "kind": "family"})
    assert r.status_code == 201, r.text
    grant_id = r.json()["id"]
    with transaction() as s:
        grantee = s.scalar(select(AccessGrant.grantee_person_id).where(AccessGrant.id == grant_id))
        env.pids["grantee"] = s.scalar(select(Person.pid).where(Person.id == grantee))
    # the NOTIFY brings the new grant to the bridge; the grantee's code opens the gate
    until(lambda: grantee in env.policy.cache.snapshot.allowed, REVOCATION_DEADLINE_S)
    code = env.api.get("/v1/me/resident-code", headers=env.token("grantee")).json()
    assert [c["compound_id"] for c in code] == [env.world.compound_a]
    assert gate_qr(env, code[0]["payload"])["result"] == "open"
    # the grantee enrols a face (with consent): it opens too
    vector = np.random.default_rng(3).normal(size=512).astype(np.float32)
    vector /= np.linalg.norm(vector)
    assert env.api.post("/v1/me/face-consent", headers=env.token("grantee"),
                        json={"agree": True, "notice_version": "2026-12"}).status_code == 201
    assert env.api.put("/v1/me/face-template", headers=env.token("grantee"),
                       json={"embedding": vector.tolist(), "model_version": "w600k_mbf"}).json()["enrolled"]
    until(lambda: gate_face(env, vector).get("person_id") == grantee, REVOCATION_DEADLINE_S)
    # the owner revokes: the same attempts are denied within the stated time
    revoked_at = time.monotonic()
    assert env.api.delete(f"/v1/me/grants/{grant_id}", headers=owner).status_code == 200
    took = until(lambda: gate_face(env, vector)["result"] == "deny", REVOCATION_DEADLINE_S)
    assert time.monotonic() - revoked_at < REVOCATION_DEADLINE_S and took < REVOCATION_DEADLINE_S
    fresh = env.api.get("/v1/me/resident-code", headers=env.token("grantee"))
    assert fresh.status_code == 403  # the platform no longer issues a code …
    assert gate_qr(env, code[0]["payload"])["reason"] == "grant_revoked"  # … and the gate refuses the old one


# --- visitor passes ---------------------------------------------------------------------------------

def test_visitor_pass_opens_counts_entries_and_revocation_bites(env: Env) -> None:
    owner = env.token("owner")
    a1 = env.world.dwellings["a1"]
    before = count(VisitorPass)
    for bad in ({"visitor_name": "张三", "hours": 25}, {"visitor_name": "张三", "hours": 0},
                {"visitor_name": "", "hours": 2}, {"visitor_name": "张三", "hours": 2, "entries": 50},
                {"visitor_name": "张三", "hours": 2, "valid_from": "2020-01-01T00:00:00Z"}):
        assert env.api.post(f"/v1/me/dwellings/{a1}/visitor-passes", json=bad, headers=owner).status_code == 422, bad
    assert count(VisitorPass) == before
    r = env.api.post(f"/v1/me/dwellings/{a1}/visitor-passes", headers=owner,
                     json={"visitor_name": "张三", "visitor_id_number": id_number(400), "hours": 2, "entries": 2})
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["visitor_name"] == "张*" and issued["payload"].startswith("GP1.")
    svg = env.api.get(f"/v1/me/visitor-passes/{issued['id']}/qr.svg", headers=owner)
    png = env.api.get(f"/v1/me/visitor-passes/{issued['id']}/qr.png", headers=owner)
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert env.api.get(f"/v1/me/visitor-passes/{issued['id']}/qr.svg", headers=env.token("outsider")).status_code == 403
    assert [gate_qr(env, issued["payload"])["result"] for _ in range(3)] == ["open", "open", "deny"]
    second = env.api.post(f"/v1/me/dwellings/{a1}/visitor-passes", headers=owner,
                          json={"visitor_name": "李四", "hours": 1}).json()
    assert env.api.delete(f"/v1/me/visitor-passes/{second['id']}", headers=owner).json()["revoked_at"]
    denied = gate_qr(env, second["payload"])  # replaying a revoked pass
    assert denied["result"] == "deny" and denied["reason"] == "pass_revoked"
    assert env.api.get(f"/v1/me/visitor-passes/{second['id']}/qr.png", headers=owner).status_code == 409
    listed = {p["id"]: p for p in env.api.get("/v1/me/visitor-passes", headers=owner).json()}
    assert listed[issued["id"]]["entries_used"] == 2 and listed[issued["id"]]["payload"] is None


def test_pass_issuance_is_rate_limited(env: Env) -> None:
    from core.config import resident_settings

    limit = resident_settings().passes_per_hour
    client = redis.Redis.from_url(settings().redis_url)
    for key in client.scan_iter(match=f"{env.prefix}rl:*"):  # earlier tests' attempts (refused ones count too)
        client.delete(key)
    outsider = env.token("outsider")
    b1 = env.world.dwellings["b1"]
    codes = [env.api.post(f"/v1/me/dwellings/{b1}/visitor-passes", headers=outsider,
                          json={"visitor_name": "访客", "hours": 1}).status_code for _ in range(limit + 2)]
    assert codes == [201] * limit + [429, 429]
    assert count(VisitorPass, VisitorPass.dwelling_id == b1, VisitorPass.visitor_name == "访客") == limit


# --- resident codes, declarations, consent ---------------------------------------------------------------

def test_resident_code_only_for_compounds_that_open(env: Env) -> None:
    codes = env.api.get("/v1/me/resident-code", headers=env.token("owner")).json()
    assert len(codes) == 1 and codes[0]["refresh_after_s"] <= 60
    expires = dt.datetime.fromisoformat(codes[0]["expires_at"])
    assert expires - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(seconds=60)
    assert env.api.get(f"/v1/me/resident-code?compound_id={env.world.compound_b}", headers=env.token("owner")).status_code == 403
    assert env.api.get("/v1/me/resident-code", headers=env.token("nobody")).status_code == 403
    assert env.api.get("/v1/me/resident-code", headers=env.token("blacklisted")).status_code == 403
    image = env.api.get(f"/v1/me/resident-code.svg?compound_id={env.world.compound_a}", headers=env.token("owner"))
    assert image.status_code == 200 and b"<svg" in image.content
    opened = gate_qr(env, codes[0]["payload"])
    assert opened["result"] == "open" and opened["person_id"] == env.world.people["owner"]
    assert gate_qr(env, codes[0]["payload"])["reason"] == "qr_replayed"


def test_self_declaration_opens_a_work_order_that_decides_it(env: Env) -> None:
    nobody = env.token("nobody")
    a1 = env.world.dwellings["a1"]
    today = dt.date.today()
    bad = env.api.post("/v1/me/declarations", headers=nobody, json={"dwelling_id": a1, "period_from": str(today),
                                                                    "relation_to_owner": "boss"})
    assert bad.status_code == 422
    r = env.api.post("/v1/me/declarations", headers=nobody,
                     json={"dwelling_id": a1, "period_from": str(today), "relation_to_owner": "tenant"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["status"] == "pending" and made["work_order_id"]
    assert env.api.post("/v1/me/declarations", headers=nobody, json={
        "dwelling_id": a1, "period_from": str(today), "relation_to_owner": "tenant"}).status_code == 409
    with transaction() as s:
        order = s.get(WorkOrder, made["work_order_id"])
        assert order.kind == "verify_declaration" and order.grid_id is not None and order.due_at > order.created_at
        assert s.get(Person, env.world.people["nobody"]).home_dwelling_id is None  # nothing changes before the door
        record_finding(s, Viewer(None, Role.admin, (), "admin"), order.id, outcome="confirmed",
                       notes="met at the door, lease seen")
    with transaction() as s:
        assert s.get(SelfDeclaration, made["id"]).status == "verified"
        assert s.get(Person, env.world.people["nobody"]).home_dwelling_id == a1
        assert s.scalar(select(Relation.source).where(Relation.person_id == env.world.people["nobody"])) == f"work_order:{order.id}"
    assert env.api.get("/v1/me/declarations", headers=nobody).json()[0]["status"] == "verified"


def test_face_needs_separate_consent_and_withdrawal_deletes_it_everywhere(env: Env) -> None:
    tenant = env.token("tenant")
    person = env.world.people["tenant"]
    vector = env.world.embeddings["tenant"]
    assert gate_face(env, vector)["person_id"] == person  # enrolled by the fixture, with consent
    # a template without a live consent is refused, nothing written
    nobody = env.token("nobody")  # no consent on record (the fixture's enrolled people have theirs)
    before = count(FaceTemplate, FaceTemplate.person_id == env.world.people["nobody"])
    r = env.api.put("/v1/me/face-template", headers=nobody, json={"embedding": vector.tolist(), "model_version": "w600k_mbf"})
    assert r.status_code == 403 and "consent" in r.json()["detail"]
    assert count(FaceTemplate, FaceTemplate.person_id == env.world.people["nobody"]) == before
    assert env.api.post("/v1/me/face-consent", headers=nobody, json={"agree": False, "notice_version": "x"}).status_code == 422
    # the tenant consents (recorded), then withdraws: templates deleted, the gate forgets the face within seconds
    given = env.api.post("/v1/me/face-consent", headers=tenant, json={"agree": True, "notice_version": "2026-12"}).json()
    assert given["enrolled"] and given["withdrawn_at"] is None
    withdrawn_at = time.monotonic()
    gone = env.api.delete("/v1/me/face-consent", headers=tenant).json()
    assert gone["templates_deleted"] == 1 and gone["withdrawn_at"] and not gone["enrolled"]
    assert count(FaceTemplate, FaceTemplate.person_id == person, FaceTemplate.library == "app") == 0
    until(lambda: person not in set(env.policy.cache.snapshot.gallery.person_ids.tolist()), REVOCATION_DEADLINE_S)
    assert time.monotonic() - withdrawn_at < REVOCATION_DEADLINE_S
    assert gate_face(env, vector)["result"] == "deny"
    # … and still enters by resident code
    code = env.api.get("/v1/me/resident-code", headers=tenant).json()[0]["payload"]
    assert gate_qr(env, code)["result"] == "open"
    assert count(FaceConsent, FaceConsent.person_id == person, FaceConsent.withdrawn_at.is_not(None)) == 1
    assert env.api.delete("/v1/me/face-consent", headers=tenant).status_code == 422  # nothing left to withdraw


def test_photo_enrolment_goes_through_the_real_face_pipeline(env: Env) -> None:
    member = env.token("member")
    assert env.api.post("/v1/me/face-consent", headers=member, json={"agree": True, "notice_version": "2026-12"}).status_code == 201
    assert env.api.post("/v1/me/face", headers={**member, "Content-Type": "image/jpeg"}, content=b"not a photo").status_code == 415
    photo = (SHARED_FACES / "Jennifer_Garner" / "Jennifer_Garner_0003.jpg").read_bytes()
    r = env.api.post("/v1/me/face", headers={**member, "Content-Type": "image/jpeg"}, content=photo)
    assert r.status_code == 200, r.text
    assert r.json()["enrolled"]
    with transaction() as s:
        stored = s.scalars(select(FaceTemplate).where(FaceTemplate.person_id == env.world.people["member"],
                                                      FaceTemplate.library == "app")).all()
    assert len(stored) == 1 and len(stored[0].embedding) == 512 and stored[0].consent_at is not None
    # the template is the real pipeline's: another photo of the same person matches it, a stranger's does not
    same = shared_pipeline().snapshot_template((SHARED_FACES / "Jennifer_Garner" / "Jennifer_Garner_0001.jpg").read_bytes())
    other = shared_pipeline().snapshot_template((SHARED_FACES / "Harrison_Ford" / "Harrison_Ford_0001.jpg").read_bytes())
    template = np.asarray(stored[0].embedding, dtype=np.float32)
    assert float(template @ same.embedding) > 0.35 > float(template @ other.embedding)
    audit = count(AuditLog, AuditLog.action == "resident.face.enrol", AuditLog.username == f"resident:{env.pids['member']}")
    assert audit == 1
