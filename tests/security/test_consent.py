"""Issue 16 item 2: consent is checked where it matters — at the gate.

Performed against the real bridge (as its own database role) and the real resident services API: a template
written without a consent record (as an importer or a terminal's desk could), or backed by a consent to a
notice the platform never published, opens nothing; withdrawing consent removes the template for every
enrolled person, also those a device or importer enrolled, and the gate forgets the face.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from blockdata.consents import record_enrolment_consents
from blockdata.db import raw_connection, transaction
from blockdata.models import FaceConsent, FaceTemplate, Person
from core.config import settings
from credentials.qr_codes import resident_code
from core.config import load_secrets
from gate_bridge import api as gate_api
from gate_bridge.service import build_policy
from residents.api import create_api
from residents.app_tokens import mint
from tests.gate_fixtures import NOW, GateWorld, build_gate_world, remove_gate_world
from tests.security.roles import as_role

DEADLINE_S = 5.0


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    w = build_gate_world(fake_faces_seed=22)
    prefix = f"gpgatetrust:c{uuid.uuid4().hex[:6]}:"
    cfg = as_role("gridpulse_bridge", redis_prefix=prefix)
    policy = build_policy(w.compound_a, cfg, outbox_path=Path(tmp_path_factory.mktemp("o")) / "o.sqlite3", refresh_s=60)
    policy.cache.start()
    with transaction() as s:
        pids = {who: s.scalar(select(Person.pid).where(Person.id == pid)) for who, pid in w.people.items()}
    yield {"w": w, "policy": policy, "gate": TestClient(gate_api.create_api(policy)),
           "api": TestClient(create_api(dataclasses.replace(settings(), redis_prefix=prefix))), "pids": pids}
    policy.cache.stop()
    remove_gate_world(w)
    r = redis.Redis.from_url(settings().redis_url)
    keys = list(r.scan_iter(match=prefix + "*"))
    if keys:
        r.delete(*keys)


def face(env: dict, who: str) -> dict:
    w: GateWorld = env["w"]
    vector = w.embeddings[who] + np.random.default_rng(3).normal(scale=0.02, size=512)
    res = env["gate"].post(f"/v1/gates/{w.gate_a}/face-template", headers={"X-Gate-Key": w.gate_key},
                           json={"embedding": [float(v) for v in vector], "model_version": "w600k_mbf"})
    assert res.status_code == 200, res.text
    return res.json()


def in_gallery(env: dict, who: str) -> bool:
    return env["w"].people[who] in set(env["policy"].cache.snapshot.gallery.person_ids.tolist())


def until(predicate, deadline_s: float = DEADLINE_S) -> None:  # noqa: ANN001
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < deadline_s, f"not within {deadline_s} s"
        time.sleep(0.05)


def token(env: dict, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(env['pids'][who])}"}


def test_a_template_written_without_a_consent_record_opens_nothing(env: dict) -> None:
    """As an importer or a terminal's desk could: the template is there (with a consent date even), the
    consent record is not — the face is unknown at the gate, the resident's code still opens."""
    w: GateWorld = env["w"]
    member = w.people["member"]
    assert face(env, "member")["result"] == "open"
    with transaction() as s:
        s.execute(text("DELETE FROM face_consent WHERE person_id = :p"), {"p": member})
    until(lambda: not in_gallery(env, "member"))
    denied = face(env, "member")
    assert denied["result"] == "deny" and denied["person_id"] is None
    key = load_secrets()
    code = resident_code(key.qr_signing_key, key.qr_key_id, member, w.compound_a)
    assert env["policy"].qr(w.gate_a, code).result == "open"  # face is never the only way in
    with raw_connection() as conn:  # the desk records the signed consent: the face opens again
        assert record_enrolment_consents(conn, [member], "2026-12") == 1
        conn.commit()
    until(lambda: in_gallery(env, "member"))
    assert face(env, "member")["result"] == "open"


def test_a_consent_to_a_notice_never_published_is_refused_and_writes_nothing(env: dict) -> None:
    w: GateWorld = env["w"]
    before = _consents(w.people["nobody"])
    res = env["api"].post("/v1/me/face-consent", headers=token(env, "nobody"), json={"agree": True, "notice_version": "2099-01"})
    assert res.status_code == 422 and "never published" in res.json()["detail"]
    assert _consents(w.people["nobody"]) == before
    with pytest.raises(psycopg.errors.ForeignKeyViolation), psycopg.connect(settings().psycopg_dsn) as conn:
        conn.execute("""INSERT INTO face_consent (person_id, purpose, notice_version, granted_at)
                        VALUES (%s, 'gate_access', 'made-up', now())""", (w.people["nobody"],))
    ok = env["api"].post("/v1/me/face-consent", headers=token(env, "nobody"), json={"agree": True, "notice_version": "2026-12"})
    assert ok.status_code == 201 and ok.json()["notice_version"] == "2026-12"


def test_a_consent_to_a_notice_not_yet_published_backs_no_template(env: dict) -> None:
    """A draft notice (published tomorrow): a consent naming it does not open the gate today."""
    w: GateWorld = env["w"]
    tenant, draft = w.people["tenant"], f"draft-{w.tag}"
    assert face(env, "tenant")["result"] == "open"
    with transaction() as s:
        s.execute(text("INSERT INTO consent_notice (version, published_at, published_by) VALUES (:v, :t, 'legal')"),
                  {"v": draft, "t": NOW + dt.timedelta(days=1)})
        s.execute(text("UPDATE face_consent SET notice_version = :v WHERE person_id = :p AND withdrawn_at IS NULL"),
                  {"v": draft, "p": tenant})
    try:
        until(lambda: not in_gallery(env, "tenant"))
        assert face(env, "tenant")["result"] == "deny"
    finally:
        with transaction() as s:
            s.execute(text("UPDATE face_consent SET notice_version = '2026-12' WHERE person_id = :p"), {"p": tenant})
            s.execute(text("DELETE FROM consent_notice WHERE version = :v"), {"v": draft})
    until(lambda: in_gallery(env, "tenant"))


def test_withdrawing_removes_a_template_a_device_enrolled(env: dict) -> None:
    """The tenant was enrolled at the gate terminal's desk (template + recorded consent, not through the
    app): withdrawing in the app deletes it, and the gate forgets the face within seconds."""
    w: GateWorld = env["w"]
    tenant = w.people["tenant"]
    with transaction() as s:  # re-enrol as the desk does: its own template, its own consent record
        s.execute(text("DELETE FROM face_consent WHERE person_id = :p"), {"p": tenant})
    with raw_connection() as conn:
        conn.execute("""INSERT INTO face_template (person_id, library, model_version, embedding, consent_at)
                        VALUES (%s, 'app', 'w600k_mbf', %s, now())""", (tenant, [float(x) for x in w.embeddings["tenant"]]))
        record_enrolment_consents(conn, [tenant], "2026-12")
        conn.commit()
    until(lambda: in_gallery(env, "tenant"))
    assert face(env, "tenant")["result"] == "open"
    res = env["api"].delete("/v1/me/face-consent", headers=token(env, "tenant"))
    assert res.status_code == 200 and res.json()["templates_deleted"] == 2 and res.json()["withdrawn_at"]
    assert _templates(tenant) == 0
    until(lambda: not in_gallery(env, "tenant"))
    assert face(env, "tenant")["result"] == "deny"


def test_withdrawing_works_for_a_template_an_importer_wrote_without_a_consent_record(env: dict) -> None:
    w: GateWorld = env["w"]
    owner = w.people["owner"]
    with transaction() as s:
        s.execute(text("DELETE FROM face_consent WHERE person_id = :p"), {"p": owner})
    assert _templates(owner) == 1
    res = env["api"].delete("/v1/me/face-consent", headers=token(env, "owner"))
    assert res.status_code == 200, res.text
    assert res.json()["templates_deleted"] == 1 and _templates(owner) == 0
    with transaction() as s:
        rows = s.execute(select(FaceConsent.withdrawn_at, FaceConsent.templates_deleted)
                         .where(FaceConsent.person_id == owner)).all()
    assert len(rows) == 1 and rows[0][0] is not None and rows[0][1] == 1
    again = env["api"].delete("/v1/me/face-consent", headers=token(env, "owner"))
    assert again.status_code == 422  # nothing left to withdraw


def _consents(person_id: int) -> int:
    with transaction() as s:
        return len(s.execute(select(FaceConsent.id).where(FaceConsent.person_id == person_id)).all())


def _templates(person_id: int) -> int:
    with transaction() as s:
        return len(s.execute(select(FaceTemplate.id).where(FaceTemplate.person_id == person_id,
                                                           FaceTemplate.library == "app")).all())
