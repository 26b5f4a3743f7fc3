"""Gate bridge speed: face decision latency (decode → detect → embed → match in a 5k gallery → policy →
XADD) in process and through HTTP, p50/p95, beside the bare model pipeline (decode → detect → embed) as
the machine's own floor in the same run; QR decisions per second with 32 gates scanning at once
through the service's batched path, in process beside the ceiling of the Ed25519 checks alone on
every core and through HTTP beside uvicorn answering at once, and for one gate scanning in sequence
beside a signature check plus one Redis round trip; 1:N search at 1e3, 1e5, 1e6, exact and through
the sign-bit index, with the index's recall against exact search.

Uses its own database (gridpulse_bench_gate) and Redis prefix (gpbench:). `--quick` does fewer rounds
and stops 1:N at 1e5. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_gate")
os.environ.setdefault("GRIDPULSE_REDIS_PREFIX", "gpbench:")

import numpy as np  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.common import fresh_database  # noqa: E402
from blockdata.consents import record_enrolment_consents  # noqa: E402
from core.config import load_secrets, resident_settings, settings  # noqa: E402
from core.keys import split as split_keys  # noqa: E402
from gate_bridge.access_cache import key_hash  # noqa: E402
from credentials.face_pipeline import FacePipeline, decode  # noqa: E402
from gate_bridge.hamming_index import HammingGallery  # noqa: E402
from gate_bridge.matching import Gallery  # noqa: E402
from credentials.qr_codes import resident_code, verify  # noqa: E402
from gate_bridge.service import build_policy  # noqa: E402
from blockdata.db import raw_connection, transaction  # noqa: E402
from demo.synthetic import run_seed  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_bridge(compound: int) -> tuple[subprocess.Popen, str]:
    """The real service (`gridpulse bridge`, uvicorn) in its own process, as a gate device sees it."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "bridge", "--compound", str(compound), "--port", str(port)],
                            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/v1/health", timeout=2).json().get("face_models_loaded"):
                return proc, base
        except (httpx.HTTPError, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the bridge did not start")
        time.sleep(0.3)


QR_GATES = 32  # gates scanning at once in one bridge process


def qr_ceiling(codes: list[str], policy) -> float:  # noqa: ANN001
    """What one gate's sequence of scans could do at best here: the signature check and one Redis
    round trip per code."""
    client, public = policy.publisher.client, policy.public_keys
    sample = codes[:1000]
    t = time.perf_counter()
    for c in sample:
        verify(c, public)
        client.ping()
    return len(sample) / (time.perf_counter() - t)


def crypto_ceiling(codes: list[str], policy) -> float:  # noqa: ANN001
    """What one process could do at best here with every core checking signatures and nothing else
    (no policy, no event, no Redis): the Ed25519 checks alone, on all cores at once."""
    sample = codes[:2000]
    chunks = [sample[i::os.cpu_count() or 1] for i in range(os.cpu_count() or 1)]
    t = time.perf_counter()
    with ThreadPoolExecutor(len(chunks)) as pool:
        list(pool.map(lambda chunk: [verify(c, policy.public_keys) for c in chunk], chunks))
    return len(sample) / (time.perf_counter() - t)


def qr_rates(policy, batched, gate: int, make_codes: Callable[[], list[str]]) -> tuple[dict[str, float], int, int]:  # noqa: ANN001
    """Decisions per second: one gate scanning in sequence (decided in its own thread); QR_GATES gates
    at once through the batched path as the bridge's HTTP endpoint takes them (coroutines awaiting on
    one event loop, qr_batcher.decide_async); and the same from QR_GATES threads (qr_batcher.decide,
    as threaded callers use it). Also how many opened of how many."""
    rates: dict[str, float] = {}
    codes = make_codes()
    t = time.perf_counter()
    opened = sum(policy.qr(gate, c).result == "open" for c in codes)
    rates["sequential"] = len(codes) / (time.perf_counter() - t)

    async def gates(chunks: list[list[str]]) -> int:
        async def one(chunk: list[str]) -> int:
            return sum([(await batched.qr_async(gate, c)).result == "open" for c in chunk])
        return sum(await asyncio.gather(*map(one, chunks)))

    codes = make_codes()
    t = time.perf_counter()
    opened += asyncio.run(gates([codes[i::QR_GATES] for i in range(QR_GATES)]))
    rates["awaited"] = len(codes) / (time.perf_counter() - t)
    codes = make_codes()
    chunks = [codes[i::QR_GATES] for i in range(QR_GATES)]
    t = time.perf_counter()
    with ThreadPoolExecutor(QR_GATES) as pool:
        opened += sum(pool.map(lambda chunk: sum(batched.qr(gate, c).result == "open" for c in chunk), chunks))
    rates["threads"] = len(codes) / (time.perf_counter() - t)
    return rates, opened, 3 * len(codes)


async def http_rate(port: int, path: str, bodies: list[bytes], headers: str = "", connections: int = QR_GATES) -> tuple[float, list[bytes]]:
    """Requests per second from ``connections`` keep-alive connections at once (each a gate sending its
    scans in sequence) and the response bodies in the bodies' order. A bare asyncio client, a few µs a
    request, so that the two cores go to the server being measured rather than to the client."""
    replies: list[bytes] = [b""] * len(bodies)

    async def gate(first: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(first, len(bodies), connections):
            writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{headers}"
                         f"Content-Length: {len(bodies[i])}\r\n\r\n".encode() + bodies[i])
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            replies[i] = await reader.readexactly(length)
        writer.close()

    t = time.perf_counter()
    await asyncio.gather(*(gate(i) for i in range(connections)))
    return len(bodies) / (time.perf_counter() - t), replies


_BARE_ASGI = """
import uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json"), (b"content-length", b"17")]})
    await send({"type": "http.response.body", "body": b'{"result":"open"}'})
uvicorn.run(app, host="127.0.0.1", port=%d, log_level="warning")
"""


def http_ceiling(bodies: list[bytes]) -> float:
    """What HTTP alone allows here: the same client against uvicorn with an app that answers at once."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", _BARE_ASGI % port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the bare uvicorn did not start") from None
                time.sleep(0.2)
        return asyncio.run(http_rate(port, "/", bodies))[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def genuine_probe(rng: np.random.Generator, v: np.ndarray, cos: float) -> np.ndarray:
    """Another photo of the same face: a vector at ``cos`` from the enrolled one (the shared faces'
    genuine pairs score 0.35-0.8 with this model, docs/BENCHMARKS.md)."""
    noise = rng.standard_normal(512).astype(np.float32)
    noise -= noise @ v * v
    noise /= np.linalg.norm(noise)
    return (cos * v + np.sqrt(1 - cos * cos) * noise).astype(np.float32)


def search_bench(rng: np.random.Generator, n: int, queries: int = 40) -> dict:
    matrix = rng.standard_normal((n, 512), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ids = np.arange(n)
    exact, index = Gallery(ids, matrix), HammingGallery(ids, matrix)
    rows = rng.integers(0, n, queries)
    probes = [genuine_probe(rng, matrix[r], c) for r, c in zip(rows, rng.uniform(0.35, 0.8, queries))]
    index.best(probes[0])  # warm the thread pool
    t = time.perf_counter()
    found = [index.best(q).person_id for q in probes]
    index_ms = (time.perf_counter() - t) / queries * 1000
    t = time.perf_counter()
    truth = [exact.best(q).person_id for q in probes]
    exact_ms = (time.perf_counter() - t) / queries * 1000
    return {"exact_ms": round(exact_ms, 2), "index_ms": round(index_ms, 2),
            "recall": float(np.mean(np.equal(found, truth)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--faces", default=str(ROOT.parent / "shared" / "faces"))
    args = parser.parse_args()
    rounds = 30 if args.quick else 150
    cfg = dataclasses.replace(settings())
    fresh_database(cfg.database_url)
    run_seed(preset="tiny", seed=1, anchor=dt.date.today(), reset=True)
    pipeline = FacePipeline()
    photos = sorted(Path(args.faces).glob("obama/*.jpg"))
    enrolled = pipeline.template(decode(photos[0].read_bytes())).embedding
    rng = np.random.default_rng(0)
    with transaction() as s:
        gate = s.execute(text("SELECT id FROM gate WHERE compound_id = 1 ORDER BY id LIMIT 1")).scalar_one()
        s.execute(text("UPDATE gate SET key_hash = :h WHERE id = :g"), {"h": key_hash("bench"), "g": gate})
        residents = s.execute(text(
            """SELECT p.id FROM person p JOIN dwelling d ON d.id = p.home_dwelling_id JOIN building b ON b.id = d.building_id
               WHERE b.compound_id = 1 ORDER BY p.id""")).scalars().all()
    with raw_connection() as conn, conn.cursor() as cur, cur.copy(
        "COPY face_template (person_id, library, model_version, embedding, consent_at) FROM STDIN"
    ) as copy:  # a 5,000-template gallery: the real face plus 4,999 others spread over the residents
        copy.write_row((residents[0], "app", "w600k_mbf", [float(x) for x in enrolled], dt.datetime.now(dt.timezone.utc)))
        for i in range(4999):
            v = rng.normal(size=512)
            copy.write_row((residents[1 + i % (len(residents) - 1)], "app", "w600k_mbf", [float(x) for x in v / np.linalg.norm(v)],
                            dt.datetime.now(dt.timezone.utc)))
    with raw_connection() as conn:  # the gallery holds only consented templates (migration 0006)
        record_enrolment_consents(conn, residents, resident_settings().consent_notice_version)
        conn.commit()
    split_keys()  # the bridge process reads its own key file (core/keys.py)
    public_keys = {load_secrets().qr_key_id: load_secrets().qr_signing_key.public_key()}
    policy = build_policy(1, cfg, outbox_path=Path("/tmp/gp-bench-outbox.sqlite3"), public_keys=public_keys)
    server, base = start_bridge(1)
    client = httpx.Client(base_url=base, timeout=30)
    probe = photos[1].read_bytes()

    def timed(call: Callable[[], object]) -> tuple[list[float], object]:
        """``rounds`` calls in a row after three warm-ups, as a gate's own process sees them: one
        process computing at a time (interleaving two model-running processes times their fight over
        the two cores' caches, not the bridge)."""
        for _ in range(3):
            result = call()
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            result = call()
            times.append(time.perf_counter() - t)
        return times, result

    bare, _ = timed(lambda: pipeline.template(decode(probe)))
    in_process, decision = timed(lambda: policy.face_template(gate, pipeline.template(decode(probe)).embedding))
    http, res = timed(lambda: client.post(f"/v1/gates/{gate}/face", content=probe,
                                          headers={"X-Gate-Key": "bench", "Content-Type": "image/jpeg"}))
    assert decision.result == "open" and res.json()["result"] == "open", "the enrolled face should open"
    print(f"face decision, gallery {len(policy.cache.snapshot.gallery)}: bare pipeline p50/p95 {pct(bare, .5):.0f}/{pct(bare, .95):.0f} ms; "
          f"in process {pct(in_process, .5):.0f}/{pct(in_process, .95):.0f} ms; HTTP {pct(http, .5):.0f}/{pct(http, .95):.0f} ms")

    key, kid = load_secrets().qr_signing_key, load_secrets().qr_key_id
    count = 2000 if args.quick else 10000
    batched = build_policy(1, cfg, outbox_path=Path("/tmp/gp-bench-outbox-batched.sqlite3"), batch_qr=True,
                           public_keys=public_keys)
    rates, opened, decided = qr_rates(policy, batched, gate, lambda: [
        resident_code(key, kid, residents[i % len(residents)], 1) for i in range(count)])
    codes = [resident_code(key, kid, residents[0], 1) for _ in range(2000)]
    ceiling, crypto = qr_ceiling(codes, policy), crypto_ceiling(codes, policy)
    bodies = [json.dumps({"payload": resident_code(key, kid, residents[i % len(residents)], 1)}).encode() for i in range(count)]
    try:
        over_http, replies = asyncio.run(http_rate(int(base.rsplit(":", 1)[1]), f"/v1/gates/{gate}/qr", bodies, "X-Gate-Key: bench\r\n"))
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert all(json.loads(r)["result"] == "open" for r in replies), "every fresh code should open over HTTP"
    bare_http = http_ceiling(bodies)
    print(f"QR decisions ({opened} of {decided} opened; each single-use, each an event): "
          f"{rates['awaited']:,.0f}/s in process with {QR_GATES} gates at once as the endpoint takes them (awaited, "
          f"batched; from {QR_GATES} threads {rates['threads']:,.0f}/s), ceiling (Ed25519 checks alone on "
          f"{os.cpu_count()} cores) {crypto:,.0f}/s; one gate in sequence {rates['sequential']:,.0f}/s, ceiling "
          f"(Ed25519 check + one Redis round trip) {ceiling:,.0f}/s")
    print(f"QR decisions through HTTP (the served bridge, {QR_GATES} keep-alive connections): {over_http:,.0f}/s; ceiling "
          f"(the same client against uvicorn answering at once) {bare_http:,.0f}/s")

    searches = {}
    for n in ((1_000, 100_000) if args.quick else (1_000, 100_000, 1_000_000)):
        searches[n] = search_bench(rng, n)
        print(f"1:N over {n:,}: exact {searches[n]['exact_ms']} ms, sign-bit index {searches[n]['index_ms']} ms per query; "
              f"recall against exact search {searches[n]['recall']:.3f} (genuine probes at cos 0.35-0.8)")
    print(json.dumps({
        "benchmark": "gate", "gallery": len(policy.cache.snapshot.gallery), "rounds": rounds,
        "bare_p50_ms": round(pct(bare, .5), 1), "bare_p95_ms": round(pct(bare, .95), 1),
        "in_process_p50_ms": round(pct(in_process, .5), 1), "in_process_p95_ms": round(pct(in_process, .95), 1),
        "http_p50_ms": round(pct(http, .5), 1), "http_p95_ms": round(pct(http, .95), 1),
        "ratio_in_process_p95_to_bare": round(pct(in_process, .95) / pct(bare, .95), 2),
        "qr_decisions_per_s": round(rates["awaited"]), "qr_gates": QR_GATES, "qr_crypto_ceiling_per_s": round(crypto),
        "ratio_qr_to_crypto_ceiling": round(rates["awaited"] / crypto, 2),
        "qr_from_threads_per_s": round(rates["threads"]),
        "qr_http_per_s": round(over_http), "qr_http_ceiling_per_s": round(bare_http),
        "ratio_qr_http_to_ceiling": round(over_http / bare_http, 2),
        "qr_sequential_per_s": round(rates["sequential"]), "qr_sequential_ceiling_per_s": round(ceiling),
        "ratio_qr_sequential_to_ceiling": round(rates["sequential"] / ceiling, 2), "search": searches,
    }))


if __name__ == "__main__":
    main()
