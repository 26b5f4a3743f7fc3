"""Schemathesis fuzzes the gate bridge's OpenAPI spec: whatever a device sends, never a 500."""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import text

from core.config import settings
from gate_bridge.access_cache import key_hash
from gate_bridge.api import create_api
from gate_bridge.face_pipeline import shared_pipeline
from gate_bridge.service import build_policy
from geodata.db import transaction
from geodata.synthetic import run_seed


@pytest.fixture(scope="module")
def bridge_schema(database_url: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    run_seed(preset="tiny", seed=9, anchor=dt.date.today(), reset=True)
    with transaction() as s:
        gate = s.execute(text("SELECT id FROM gate WHERE compound_id = 1 ORDER BY id LIMIT 1")).scalar_one()
        s.execute(text("UPDATE gate SET key_hash = :h WHERE id = :g"), {"h": key_hash("fuzz-key"), "g": gate})
    prefix = f"gptest:z{uuid.uuid4().hex[:6]}:"
    policy = build_policy(1, dataclasses.replace(settings(), redis_prefix=prefix),
                          outbox_path=Path(tmp_path_factory.mktemp("o")) / "o.sqlite3")
    yield schemathesis.openapi.from_asgi("/openapi.json", create_api(policy, shared_pipeline()))
    client = redis.Redis.from_url(settings().redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)


def test_no_request_gets_a_server_error(bridge_schema) -> None:  # noqa: ANN001
    """Every operation, many generated requests each (valid and invalid by the spec), with a valid gate key."""
    operations = [result.ok() for result in bridge_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/gates/{gate_id}/qr", "/v1/gates/{gate_id}/face-template"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:  # noqa: ANN001
            case.call_and_validate(headers={"X-Gate-Key": "fuzz-key"}, checks=[not_a_server_error])

        fuzz()
