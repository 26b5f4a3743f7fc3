"""Schemathesis fuzzes the resident services' OpenAPI spec with a valid owner's token: never a 500."""
from __future__ import annotations

import dataclasses
import uuid

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import select

from core.config import settings
from blockdata.db import transaction
from blockdata.models import Person
from residents.api import create_api
from residents.app_tokens import mint
from tests.gate_fixtures import build_gate_world, remove_gate_world


@pytest.fixture(scope="module")
def residents_schema(database_url: str):  # noqa: ANN201
    world = build_gate_world(fake_faces_seed=5)
    prefix = f"gptest:f{uuid.uuid4().hex[:6]}:"

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_api(dataclasses.replace(settings(), redis_prefix=prefix)))
    with transaction() as s:
        pid = s.scalar(select(Person.pid).where(Person.id == world.people["owner"]))
    yield schema, world, pid
    remove_gate_world(world)
    client = redis.Redis.from_url(settings().redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)


def test_no_request_gets_a_server_error(residents_schema) -> None:  # noqa: ANN001
    schema, world, pid = residents_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/me/dwellings/{dwelling_id}/grants", "/v1/me/visitor-passes",
                                              "/v1/me/resident-code", "/v1/me/declarations", "/v1/me/face-consent"}
    token = mint(pid)
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:  # noqa: ANN001
            if case.path_parameters and "dwelling_id" in case.path_parameters:
                case.path_parameters["dwelling_id"] = world.dwellings["a1"]  # the owner's: into the handlers
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

        fuzz()
