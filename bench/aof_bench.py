"""What Redis persistence costs: the gate side (decisions published by the bridge's publisher: 32 gates
at once through its group commit, and one gate in sequence) and the ingest side (ingest_bench's events,
landed by one worker in process) against three redis-servers of its own, started from deploy/redis/gridpulse.conf: AOF with
`appendfsync always`, with `everysec` (the shipped choice), and without AOF — the ceiling, measured in
the same run. Ratios are against that ceiling.

Never touches the shared Redis. `--quick` publishes fewer events. Its own database: gridpulse_bench_aof.
Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_REDIS_PREFIX", "gpbench:")
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_aof")

import redis  # noqa: E402

from core.config import settings  # noqa: E402
from core.events import GateEvent, uuid7  # noqa: E402
from gate_bridge.publisher import EventPublisher  # noqa: E402

CONF = ROOT / "deploy" / "redis" / "gridpulse.conf"
POLICIES = {"always": ("--appendfsync", "always"), "everysec": ("--appendfsync", "everysec"), "no-aof": ("--appendonly", "no")}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, overrides: tuple[str, ...]) -> None:
        self.port, self.dir = free_port(), Path(tempfile.mkdtemp(prefix="gp-aof-bench-"))
        self.proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", str(CONF), "--port", str(self.port),
                                      "--bind", "127.0.0.1", "--dir", str(self.dir), *overrides],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise SystemExit("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _event(gate: int) -> GateEvent:
    return GateEvent(event_id=uuid7(), ts=dt.datetime.now(dt.timezone.utc), gate_id=gate, compound_id=1,
                     direction="in", method="resident_qr", result="open", person_id=gate)


def gate_side(url: str, per_gate: int, sequential: int, tmp: Path) -> dict[str, float]:
    cfg = dataclasses.replace(settings(), redis_url=url)
    publisher = EventPublisher(cfg, client=redis.Redis.from_url(url, decode_responses=True), outbox_path=tmp / f"{url[-10:].replace('/', '_')}.sqlite3")
    seq = []
    for _ in range(sequential):  # one gate, one decision after another: the round trip each waits for
        t0 = time.perf_counter()
        assert publisher.publish(_event(0))
        seq.append(time.perf_counter() - t0)

    def scan(gate: int) -> None:
        for _ in range(per_gate):
            assert publisher.publish(_event(gate))

    threads = [threading.Thread(target=scan, args=(g,)) for g in range(1, 33)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    seq.sort()
    return {"gates32_events_per_s": 32 * per_gate / seconds, "one_gate_p50_ms": seq[len(seq) // 2] * 1000,
            "one_gate_p95_ms": seq[int(len(seq) * 0.95)] * 1000}


def ingest_side(url: str, n: int, gates: list[int], compound: int) -> dict[str, float]:
    """ingest_bench's workload in process: n events waiting on the stream, one worker lands them all
    (its acks, dead letters and live-state writes are the Redis writes AOF logs)."""
    import psycopg

    from bench.ingest_bench import make_events, publish
    from core.events import stream_key
    from ingest.worker import IngestWorker

    cfg = dataclasses.replace(settings(), redis_url=url, redis_prefix=settings().redis_prefix + "ingest:")  # not the gate side's stream
    with psycopg.connect(cfg.psycopg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE access_event, gate_flow_minute")
    client = redis.Redis.from_url(url)
    worker = IngestWorker(cfg, consumer="aof-bench", redis_client=redis.Redis.from_url(url, decode_responses=True))
    worker.ensure_groups()
    publish(client, stream_key(cfg.redis_prefix, 0), make_events(n, gates, compound))
    t0 = time.perf_counter()
    stats = worker.run(should_stop=lambda: worker.stats.stored >= n, idle_exit_s=30.0)  # until all n landed
    seconds = time.perf_counter() - t0
    if stats.stored != n:
        raise SystemExit(f"ingest stored {stats.stored} of {n}")
    return {"ingest_events_per_s": n / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events")
    parser.add_argument("--no-ingest", action="store_true", help="the gate side only")
    args = parser.parse_args()
    per_gate, sequential = (300, 300) if args.quick else (2000, 1000)
    n_ingest = 20_000 if args.quick else 100_000
    if not args.no_ingest:
        from bench.common import fresh_database
        from bench.ingest_bench import build_gates

        fresh_database(settings().database_url)
        gates, compound = build_gates()
    tmp = Path(tempfile.mkdtemp(prefix="gp-aof-outbox-"))
    results: dict[str, dict[str, float]] = {}
    for name, overrides in POLICIES.items():
        server = Server(overrides)
        try:
            results[name] = gate_side(server.url, per_gate, sequential, tmp)
            if not args.no_ingest:
                results[name].update(ingest_side(server.url, n_ingest, gates[:-1], compound))
        finally:
            server.close()
        r = results[name]
        print(f"{name:9} gate: 32 gates {r['gates32_events_per_s']:,.0f} events/s, one gate p50 {r['one_gate_p50_ms']:.2f} ms "
              f"p95 {r['one_gate_p95_ms']:.2f} ms" + (f"; ingest {r['ingest_events_per_s']:,.0f} events/s"
                                                      if "ingest_events_per_s" in r else ""))
    shutil.rmtree(tmp, ignore_errors=True)
    ceiling = results["no-aof"]
    ratios = {name: {k: round(v / ceiling[k], 3) for k, v in r.items()} for name, r in results.items() if name != "no-aof"}
    for name, r in ratios.items():
        print(f"{name:9} against no AOF (same run): " + ", ".join(f"{k} ×{v}" for k, v in r.items()))
    print(json.dumps({"benchmark": "aof", "quick": args.quick, "per_gate": per_gate,
                      "results": {k: {m: round(v, 2) for m, v in r.items()} for k, r in results.items()}, "ratios": ratios}))


if __name__ == "__main__":
    main()
