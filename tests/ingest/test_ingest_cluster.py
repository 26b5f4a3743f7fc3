"""Scale-out: shards on a real 3-node Redis Cluster (loopback ports), one consumer group across them."""
from __future__ import annotations

import dataclasses
import random
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

from core.config import settings
from core.events import shard_of, stream_key
from core.redis_client import connect
from blockdata.db import transaction
from ingest.worker import GROUP, IngestWorker
from tests import places as P
from tests.streams import make_events, publish, reset_events, rollup_total, stored, wait_for

SHARDS = 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    workdir = tempfile.mkdtemp(prefix="gp-cluster-")
    ports = _cluster_ports(3)
    procs = []
    try:
        for port in ports:
            procs.append(subprocess.Popen(
                [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", f"{workdir}/nodes-{port}.conf",
                 "--dir", workdir, "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
        for port in ports:
            assert wait_for(lambda p=port: _ping(p), 10), f"cluster node {port} did not start"
        subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        assert wait_for(lambda: _cluster_ok(ports[0]), 30), "the cluster never reported ok"
        yield f"redis+cluster://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _cluster_ports(n: int) -> list[int]:
    """Free ports whose cluster-bus port (port + 10000) is free and valid too."""
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < n:
        port = rng.randrange(20000, 40000)
        if port not in ports and _free(port) and _free(port + 10000):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _ping(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port).ping())
    except redis.ConnectionError:
        return False


def _cluster_ok(port: int) -> bool:
    info = redis.Redis(port=port, decode_responses=True).execute_command("CLUSTER INFO")
    return info.get("cluster_state") == "ok"  # redis-py parses CLUSTER INFO into a dict


def test_sharded_streams_on_a_cluster_are_ingested_exactly_once(database_url: str, cluster: str) -> None:
    with transaction() as s:
        P.build(s)
        gate_id, compound_id = P.compound_gate(s)
    reset_events()
    prefix = f"gptest:c{uuid.uuid4().hex[:6]}:"
    cfg = dataclasses.replace(settings(), redis_url=cluster, redis_prefix=prefix, stream_shards=SHARDS, ingest_batch_size=700)
    client = connect(cfg)
    assert isinstance(client, RedisCluster)
    keys = [stream_key(prefix, shard) for shard in range(SHARDS)]
    # Hash tags put the shards in different slots; with three nodes they spread over at least two.
    nodes = {client.get_node_from_key(k).name for k in keys}
    assert len({client.keyslot(k) for k in keys}) == SHARDS and len(nodes) >= 2
    events = make_events(6_000, gate_id, compound_id, seed=7)
    for shard, key in enumerate(keys):
        publish(client, key, events[shard::SHARDS])
    workers = [IngestWorker(cfg, consumer=f"w{i}") for i in range(2)]
    workers[0].run(idle_exit_s=1.0)
    workers[1].run(idle_exit_s=0.5)
    assert stored() == len(events) and rollup_total() == len(events)
    assert sum(w.stats.stored for w in workers) == len(events)
    for key in keys:
        assert client.xpending(key, GROUP)["pending"] == 0
    assert shard_of(compound_id, SHARDS) == compound_id % SHARDS


def test_the_gate_publisher_batches_across_cluster_slots(cluster: str, tmp_path) -> None:  # noqa: ANN001
    """The bridge's group commit on a Cluster: one batch holds events of three shards (three slots,
    on at least two nodes) and resident-code claims; each lands on its own shard once, and a nonce
    claimed in one batch is refused in the next."""
    from concurrent.futures import ThreadPoolExecutor

    from gate_bridge.publisher import EventPublisher

    prefix = f"gptest:cp{uuid.uuid4().hex[:6]}:"
    cfg = dataclasses.replace(settings(), redis_url=cluster, redis_prefix=prefix, stream_shards=SHARDS)
    publisher = EventPublisher(cfg, outbox_path=tmp_path / "outbox.sqlite3")
    events = [e for shard in range(SHARDS) for e in make_events(40, gate_id=1, compound_id=shard, seed=shard)]
    repeat = {"result": "deny", "reason": "qr_replayed"}

    def send(job: tuple[int, object]) -> bool:
        i, event = job
        return publisher.publish_many([(event, (f"n{i}", 60, repeat) if i % 2 else None)])[0]

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(send, enumerate(events)))
    again = make_events(1, gate_id=1, compound_id=0, seed=99)[0]
    assert publisher.publish_many([(again, ("n1", 60, repeat))]) == [False]  # n1 was claimed with compound 0's event
    client = connect(cfg)
    for shard in range(SHARDS):
        landed = {f["event_id"]: f for _, f in client.xrange(stream_key(prefix, shard))}
        expected = {str(e.event_id) for e in events if e.compound_id == shard} | ({str(again.event_id)} if shard == 0 else set())
        assert sorted(landed) == sorted(expected) and len(landed) == len(client.xrange(stream_key(prefix, shard)))
    assert landed_again(client, prefix, again) == ("deny", "qr_replayed")
    assert publisher.outbox_depth() == 0


def landed_again(client: RedisCluster, prefix: str, event) -> tuple[str, str]:  # noqa: ANN001
    fields = next(f for _, f in client.xrange(stream_key(prefix, 0)) if f["event_id"] == str(event.event_id))
    return fields["result"], fields["reason"]
