"""The real face pipeline (SCRFD + ArcFace on onnxruntime) on real photos, through the bridge's API:
a resident's other photo opens, a stranger's does not, bad images get a 4xx, poor faces a reasoned deny."""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import text

from core.config import settings
from gate_bridge.access_cache import key_hash
from gate_bridge.api import create_api
from gate_bridge.face_pipeline import FacePipeline, decode, shared_pipeline
from gate_bridge.service import build_policy
from geodata.db import transaction
from geodata.synthetic import run_seed

KEY = "face-gate-key"


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return shared_pipeline()


@pytest.fixture(scope="module")
def faces(shared_dir: Path) -> Path:
    return shared_dir / "faces"


@pytest.fixture(scope="module")
def gate(database_url: str, pipeline: FacePipeline, faces: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    run_seed(preset="tiny", seed=6, anchor=dt.date.today(), reset=True)
    enrolled = pipeline.template(decode((faces / "obama" / "obama.jpg").read_bytes()))
    with transaction() as s:
        gate_id = s.execute(text("SELECT id FROM gate WHERE compound_id = 1 ORDER BY id LIMIT 1")).scalar_one()
        s.execute(text("UPDATE gate SET key_hash = :h WHERE id = :g"), {"h": key_hash(KEY), "g": gate_id})
        resident = s.execute(text(
            """SELECT p.id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
               WHERE b.compound_id = 1 ORDER BY p.id LIMIT 1""")).scalar_one()
        s.execute(text("""INSERT INTO face_template (person_id, library, model_version, embedding, consent_at)
                          VALUES (:p, 'app', 'w600k_mbf', :e, now())"""), {"p": resident, "e": [float(x) for x in enrolled.embedding]})
    prefix = f"gptest:f{uuid.uuid4().hex[:6]}:"
    policy = build_policy(1, dataclasses.replace(settings(), redis_prefix=prefix),
                          outbox_path=Path(tmp_path_factory.mktemp("o")) / "o.sqlite3")
    yield {"client": TestClient(create_api(policy, pipeline)), "gate": gate_id, "resident": resident}
    r = redis.Redis.from_url(settings().redis_url)
    keys = list(r.scan_iter(match=prefix + "*"))
    if keys:
        r.delete(*keys)


def post(gate: dict, data: bytes, content_type: str = "image/jpeg") -> object:
    return gate["client"].post(f"/v1/gates/{gate['gate']}/face", content=data,
                               headers={"X-Gate-Key": KEY, "Content-Type": content_type})


def test_a_residents_other_photo_opens_and_a_stranger_is_denied(gate: dict, faces: Path) -> None:
    res = post(gate, (faces / "obama" / "obama1.jpg").read_bytes())
    assert res.status_code == 200 and res.json()["result"] == "open" and res.json()["person_id"] == gate["resident"]
    stranger = sorted((faces / "rose_leslie").iterdir())[0]
    res = post(gate, stranger.read_bytes())
    assert res.json()["result"] == "deny" and res.json()["reason"] == "unknown_face"


@pytest.mark.parametrize("case, status", [("text", 415), ("truncated", 422), ("huge", 413)])
def test_bad_images_get_a_clear_4xx(gate: dict, faces: Path, case: str, status: int) -> None:
    photo = (faces / "obama" / "obama1.jpg").read_bytes()
    data = {"text": b"hello, this is not an image", "truncated": photo[: len(photo) // 2],
            "huge": b"\xff\xd8" + b"\x00" * (5 * 1024 * 1024) + b"\xff\xd9"}[case]
    res = post(gate, data)
    assert res.status_code == status, res.text


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("case, reason", [("blank", "no_face"), ("tiny", "face_too_small"), ("blurred", "face_blurred")])
def test_poor_faces_are_denied_with_their_reason(gate: dict, faces: Path, case: str, reason: str) -> None:
    image = cv2.imread(str(faces / "obama" / "obama1.jpg"))
    made = {
        "blank": lambda: np.full((480, 640, 3), 128, dtype=np.uint8),
        "tiny": lambda: cv2.copyMakeBorder(cv2.resize(image, (image.shape[1] // 12, image.shape[0] // 12)),
                                           200, 200, 200, 200, cv2.BORDER_CONSTANT),
        "blurred": lambda: cv2.GaussianBlur(image, (0, 0), image.shape[1] / 40),
    }[case]()
    res = post(gate, _jpeg(made))
    assert res.status_code == 200 and res.json()["result"] == "deny" and res.json()["reason"] == reason
