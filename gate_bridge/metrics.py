"""What a gate bridge tells Prometheus: decisions by method and result with their latency, the outbox
waiting for Redis, whether Redis answers, and how old the access snapshot is.

Decisions are counted from the answers the bridge sends (core/asgi_observe.py hands each decision's
JSON here), so the QR fast lane and the documented routes are counted alike and the policy stays free
of bookkeeping. One bridge is one process (its replay cache and outbox are its own), so these are plain
in-process metrics.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import Metric

from core.metrics import LATENCY_BUCKETS, ScrapeCollector, gauge
from gate_bridge.policy import GatePolicy

DECISIONS = Counter("gridpulse_gate_decisions_total", "Gate decisions by compound, gate, method and result",
                    ["compound", "gate", "method", "result"])
DECISION_SECONDS = Histogram("gridpulse_gate_decision_seconds", "Time to answer a gate decision, by method",
                             ["compound", "method"], buckets=LATENCY_BUCKETS)
DECISION_ROUTES = ("/qr", "/face", "/face-template", "/exit")


def decision_hook(compound_id: int):  # noqa: ANN201 - core.asgi_observe.ResponseHook
    compound = str(compound_id)

    def on_response(path: str, status: int, body: bytes, seconds: float) -> None:
        if status != 200:
            return  # a refused request (wrong key, bad body) is no decision; the request histogram has it
        try:
            doc = json.loads(body)
            method, result = str(doc["method"]), str(doc["result"])
        except (ValueError, KeyError, TypeError):
            return
        gate = path.split("/")[3] if path.startswith("/v1/gates/") else "?"  # /v1/gates/{id}/qr
        DECISIONS.labels(compound, gate, method, result).inc()
        DECISION_SECONDS.labels(compound, method).observe(seconds)

    return on_response


def collector(policy: GatePolicy) -> ScrapeCollector:
    compound = str(policy.compound_id)

    def read() -> Iterable[Metric]:
        yield gauge("gridpulse_gate_outbox_depth", "Decisions waiting in the bridge's outbox for Redis",
                    ["compound"], [((compound,), policy.publisher.outbox_depth())])
        try:
            up = 1.0 if policy.publisher.client.ping() else 0.0
        except Exception:  # noqa: BLE001 - an unreachable Redis is the figure, not an error
            up = 0.0
        yield gauge("gridpulse_gate_redis_up", "1 when the bridge reaches Redis", ["compound"], [((compound,), up)])
        yield gauge("gridpulse_gate_snapshot_age_seconds", "Age of the bridge's access snapshot", ["compound"],
                    [((compound,), policy.cache.age_s())])
        yield gauge("gridpulse_gate_allowed_people", "People the bridge lets in", ["compound"],
                    [((compound,), len(policy.cache.snapshot.allowed))])

    return ScrapeCollector("gate_bridge", read)
