"""Schemathesis fuzzes the gate bridge's OpenAPI spec: whatever a device sends, never a 500."""
from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from core.config import settings
from gate_bridge.api import create_api
from credentials.face_pipeline import shared_pipeline
from gate_bridge.service import build_policy
from tests.gate_fixtures import build_gate_world, remove_gate_world


@pytest.fixture(scope="module")
def bridge_schema(database_url: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    world = build_gate_world(fake_faces_seed=4)
    prefix = f"gptest:z{uuid.uuid4().hex[:6]}:"
    policy = build_policy(world.compound_a, dataclasses.replace(settings(), redis_prefix=prefix),
                          outbox_path=Path(tmp_path_factory.mktemp("o")) / "o.sqlite3", batch_qr=True)  # as served
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_api(policy, shared_pipeline()))
    yield schema, world
    client = redis.Redis.from_url(settings().redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    remove_gate_world(world)


def test_no_request_gets_a_server_error(bridge_schema) -> None:  # noqa: ANN001
    """Every operation, many generated requests each (valid and invalid by the spec), with a valid gate key."""
    schema, world = bridge_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/gates/{gate_id}/qr", "/v1/gates/{gate_id}/face-template",
                                              "/v1/gates/{gate_id}/face", "/v1/gates/{gate_id}/exit", "/v1/health"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:  # noqa: ANN001
            if case.path_parameters and "gate_id" in case.path_parameters:
                case.path_parameters["gate_id"] = world.gate_a  # past the key check, into the handlers
            case.call_and_validate(headers={"X-Gate-Key": world.gate_key}, checks=[not_a_server_error])

        fuzz()
