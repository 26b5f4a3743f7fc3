"""Issue 16 item 7: Redis asks for a password, and only the bridges may write the event streams.

Performed on a Redis of the test's own (a free port, the ACL file `scripts/bootstrap.sh redis-acl` writes;
the shared Redis is never reconfigured): nobody gets in without a password; the app, the rules, the
resident services and the ingest itself cannot XADD a forged event — neither directly nor from a script —;
what a real bridge (its own user) publishes lands in PostGIS through a real ingest worker (its own user and
database role), and the forged events are nowhere."""
from __future__ import annotations

import dataclasses
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

from core.config import settings
from core.events import dead_letter_key, stream_key
from core.redis_acl import SERVICES, service_url, user_name, write
from gate_bridge.service import build_policy
from ingest.worker import IngestWorker
from tests.browser import free_port
from tests.gate_fixtures import GateWorld, build_gate_world, remove_gate_world
from tests.security.roles import as_role

FORGED = {"v": "1", "event_id": "0190a0a0-0000-7000-8000-000000000001", "ts": "2026-12-06T10:00:00+00:00",
          "gate_id": "1", "compound_id": "1", "direction": "in", "method": "face", "result": "open", "person_id": "1"}


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    home = tmp_path_factory.mktemp("redis")
    prefix = "gpacl:"
    passwords = write(home / "users.acl", home / "passwords.env", prefix)
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--aclfile", str(home / "users.acl"), "--dir", str(home)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"redis://127.0.0.1:{port}/0"
    admin = redis.Redis.from_url(service_url(base, "admin", passwords["admin"]), decode_responses=True)
    for _ in range(100):
        try:
            admin.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    yield {"base": base, "port": port, "prefix": prefix, "passwords": passwords, "admin": admin,
           "url": lambda service: service_url(base, service, passwords[service])}
    proc.terminate()
    proc.wait(timeout=10)


def client(acl: dict, service: str) -> redis.Redis:
    return redis.Redis.from_url(acl["url"](service), decode_responses=True)


def test_nobody_gets_in_without_a_password(acl_redis: dict) -> None:
    anonymous = redis.Redis(host="127.0.0.1", port=acl_redis["port"])
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.xadd(stream_key(acl_redis["prefix"], 0), FORGED)
    wrong = redis.Redis.from_url(service_url(acl_redis["base"], "bridge", "guessed"))
    with pytest.raises(redis.exceptions.AuthenticationError):
        wrong.ping()
    assert acl_redis["admin"].xlen(stream_key(acl_redis["prefix"], 0)) == 0


@pytest.mark.parametrize("service", ["app", "rules", "residents", "ingest"])
def test_no_service_but_the_bridges_can_forge_an_event(acl_redis: dict, service: str) -> None:
    c, stream = client(acl_redis, service), stream_key(acl_redis["prefix"], 0)
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.xadd(stream, FORGED)
    with pytest.raises(redis.exceptions.ResponseError, match="(?i)no permissions|noperm|can.t run this command|can.t access"):
        c.eval("return redis.call('XADD', KEYS[1], '*', 'v', '1', 'result', 'open')", 1, stream)
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.xadd(stream_key(acl_redis["prefix"], 7), FORGED)  # another shard
    assert acl_redis["admin"].xlen(stream) == 0


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "admin"])
@pytest.mark.parametrize("command", [("FLUSHALL",), ("CONFIG", "SET", "appendonly", "yes"), ("KEYS", "*"),
                                     ("ACL", "SETUSER", "default", "on", "nopass", "+@all", "~*")])
def test_no_service_can_run_the_dangerous_commands(acl_redis: dict, service: str, command: tuple) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        client(acl_redis, service).execute_command(*command)


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "admin"])
def test_services_reach_only_their_prefix(acl_redis: dict, service: str) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        client(acl_redis, service).set("gp:session:someone-else", "x")


def test_bridge_events_land_and_forged_ones_are_nowhere(acl_redis: dict, database_url: str, tmp_path: Path) -> None:
    w: GateWorld = build_gate_world(fake_faces_seed=7)
    try:
        prefix = acl_redis["prefix"]
        bridge_cfg = as_role("gridpulse_bridge", redis_url=acl_redis["url"]("bridge"), redis_prefix=prefix)
        policy = build_policy(w.compound_a, bridge_cfg, outbox_path=tmp_path / "o.sqlite3")
        decision = policy.card(w.gate_a, w.people["owner"])
        assert decision.result == "open" and policy.publisher.outbox_depth() == 0  # published, not parked
        for service in ("app", "ingest"):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client(acl_redis, service).xadd(stream_key(prefix, 0), {**FORGED, "gate_id": str(w.gate_a),
                                                                        "compound_id": str(w.compound_a)})
        ingest_cfg = as_role("gridpulse_ingest", redis_url=acl_redis["url"]("ingest"), redis_prefix=prefix)
        stats = IngestWorker(ingest_cfg, consumer="acl-test").run(idle_exit_s=0.5)
        assert stats.stored == 1 and stats.dead == 0
        with psycopg.connect(settings().psycopg_dsn) as conn:
            rows = conn.execute("SELECT event_id::text, method, person_id FROM access_event WHERE gate_id = %s",
                                (w.gate_a,)).fetchall()
            conn.execute("DELETE FROM access_event WHERE gate_id = ANY(%s)", ([w.gate_a, w.gate_b],))
            conn.execute("DELETE FROM gate_flow_minute WHERE gate_id = ANY(%s)", ([w.gate_a, w.gate_b],))
        assert rows == [(decision.event_id, "card", w.people["owner"])]
        # the ingest's own streams still work for it
        client(acl_redis, "ingest").xadd(dead_letter_key(prefix), {"error": "test"})
    finally:
        remove_gate_world(w)
