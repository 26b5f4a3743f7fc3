"""The bridge keeps deciding while Redis is down: decisions (QR, face template, exit) go to the SQLite
outbox, a resident code cannot be replayed meanwhile (local cache), and when Redis returns every event
arrives exactly once, in order, with its original id. Uses a redis-server of its own on a free port."""
from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import numpy as np
import pytest
import redis

from core.config import load_secrets, settings
from core.events import parse_fields, stream_key
from credentials.qr_codes import resident_code
from gate_bridge.service import build_policy
from tests.gate_fixtures import build_gate_world, remove_gate_world
from tests.streams import private_redis


@pytest.fixture(scope="module")
def world(database_url: str):  # noqa: ANN201
    w = build_gate_world(fake_faces_seed=7)
    yield w
    remove_gate_world(w)


def test_decisions_while_redis_is_down_arrive_once_in_order(world, tmp_path: Path) -> None:  # noqa: ANN001
    secrets = load_secrets()
    key, kid = secrets.qr_signing_key, secrets.qr_key_id
    rng = np.random.default_rng(3)
    with private_redis() as (port, restart):
        cfg = dataclasses.replace(settings(), redis_url=f"redis://127.0.0.1:{port}/0",
                                  redis_prefix=f"gptest:o{uuid.uuid4().hex[:6]}:")
        policy = build_policy(world.compound_a, cfg, outbox_path=tmp_path / "outbox.sqlite3", batch_qr=True)  # as served
        ids = []

        def decide(i: int) -> str:
            kind = i % 3
            if kind == 0:
                d = policy.qr(world.gate_a, resident_code(key, kid, world.people["owner"], world.compound_a))
            elif kind == 1:
                d = policy.face_template(world.gate_a, world.embeddings["tenant"] + rng.normal(scale=0.02, size=512))
            else:
                d = policy.exit(world.gate_a, "count")
            ids.append(d.event_id)
            return d.result

        assert [decide(i) for i in range(30)] == ["open"] * 30
        assert policy.publisher.outbox_depth() == 0

        replayed_code = resident_code(key, kid, world.people["member"], world.compound_a)
        assert policy.qr(world.gate_a, replayed_code).result == "open"
        ids.append(None)  # placeholder, replaced below
        ids[-1] = _last_id(policy)

        redis.Redis(port=port).shutdown(nosave=False)  # the platform's Redis goes away
        down = [decide(i) for i in range(30, 90)]
        assert down == ["open"] * 60  # the gate keeps deciding from its snapshot
        again = policy.qr(world.gate_a, replayed_code)  # a replay while Redis is down: the local cache refuses it
        assert again.result == "deny" and again.reason == "qr_replayed"
        ids.append(again.event_id)
        assert policy.publisher.outbox_depth() == 61
        health_redis = _ping(policy)
        assert health_redis is False

        restart(down_s=0.2)  # it comes back (AOF kept what was written before)
        policy.publisher.client = redis.Redis(port=port, decode_responses=True)
        after = [decide(i) for i in range(90, 100)]  # queued behind the outbox, which is replayed first
        assert after == ["open"] * 10
        assert policy.publisher.flush() and policy.publisher.outbox_depth() == 0
        entries = redis.Redis(port=port).xrange(stream_key(cfg.redis_prefix, 0))
    got = [str(parse_fields(fields).event_id) for _, fields in entries]
    assert len(got) == len(set(got)) == len(ids) == 102  # every decision once
    assert got == [str(i) for i in ids]  # in the order they were made, with their original ids


def _last_id(policy) -> str:  # noqa: ANN001
    client = policy.publisher.client
    return str(parse_fields(client.xrevrange(_stream(policy), count=1)[0][1]).event_id)


def _stream(policy) -> str:  # noqa: ANN001
    return stream_key(policy.publisher.cfg.redis_prefix, 0)


def _ping(policy) -> bool:  # noqa: ANN001
    try:
        return bool(policy.publisher.client.ping())
    except redis.ConnectionError:
        return False
