"""`gridpulse serve` on this machine: every part up and healthy, metrics that move with traffic (gate
decisions by method and result, events landed, login failures summed over the app's gunicorn workers,
scheduled jobs), a part killed with -9 comes back by itself, and SIGTERM stops everything cleanly."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from blockdata.db import transaction
from core.config import settings
from gate_bridge.access_cache import key_hash
from tests import places as P
from tests.browser import free_port
from tests.ops import failed_login
from tests.conftest import ROOT
from tests.streams import wait_for

pytestmark = pytest.mark.slow
GATE_KEY = "ops-serve-test-key"


@dataclass
class Served:
    proc: subprocess.Popen
    log_dir: Path
    ports: dict[str, int]
    gate_id: int
    compound_id: int

    def url(self, part: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[part]}{path}"

    def pids(self) -> dict[str, int]:
        """The latest pid of each part, from the supervisor's own log."""
        found: dict[str, int] = {}
        for name, pid in re.findall(r"started (\S+) \(pid (\d+)\)", (self.log_dir / "serve.log").read_text()):
            found[name] = int(pid)
        return found


def samples(url: str) -> dict[tuple[str, tuple], float]:
    body = httpx.get(url, timeout=10).text
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, metric: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == metric and all((k, v2) in ls for k, v2 in labels.items()))


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with transaction() as s:
        P.build(s)
        gate_id, compound_id = P.compound_gate(s)
        s.execute(text("UPDATE gate SET key_hash = :h WHERE id = :g"), {"h": key_hash(GATE_KEY), "g": gate_id})
    work = tmp_path_factory.mktemp("serve")
    bridge = free_port()
    while bridge - compound_id < 1024:
        bridge = free_port()
    metrics_base = free_port()
    ports = {"app": free_port(), "residents": free_port(), "schedule": metrics_base, "ingest": metrics_base + 1,
             "bridge": bridge}
    env = {**os.environ,
           "GRIDPULSE_PORT": str(ports["app"]), "GRIDPULSE_RESIDENTS_PORT": str(ports["residents"]),
           "GRIDPULSE_METRICS_PORT_BASE": str(metrics_base), "GRIDPULSE_BRIDGE_PORT_BASE": str(bridge - compound_id),
           "GRIDPULSE_REDIS_PREFIX": f"{settings().redis_prefix}serve{uuid.uuid4().hex[:6]}:",
           "GRIDPULSE_LOG_DIR": str(work / "log"), "GRIDPULSE_METRICS_DIR": str(work / "metrics"),
           "GRIDPULSE_APP_WORKERS": "2", "GRIDPULSE_APP_THREADS": "2", "GRIDPULSE_API_WORKERS": "2",
           "GRIDPULSE_ESCALATE_EVERY_S": "2", "GRIDPULSE_FULL_SWEEP_EVERY_S": "0",
           "GRIDPULSE_RETENTION_AT": "", "GRIDPULSE_BACKUP_AT": "", "GRIDPULSE_INGEST_CLAIM_IDLE_MS": "3000"}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--compounds", str(compound_id), "--grace", "20"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = Served(proc, work / "log", ports, gate_id, compound_id)
    try:
        for part, path in (("app", "/healthz"), ("residents", "/healthz"), ("schedule", "/healthz"),
                           ("ingest", "/healthz"), ("bridge", "/healthz")):
            assert wait_for(lambda: _healthy(s.url(part, path)), 180, 0.5), f"{part} never became healthy"
        yield s
    finally:
        if proc.poll() is None:
            proc.kill()
            for pid in s.pids().values():
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()


def test_every_part_reports_database_and_redis_ok(served: Served) -> None:
    for part in ("app", "residents", "schedule", "ingest", "bridge"):
        reply = httpx.get(served.url(part, "/healthz"), timeout=10)
        assert reply.status_code == 200, (part, reply.text)
        assert reply.json()["checks"] == {"database": "ok", "redis": "ok"}, part
    assert set(served.pids()) == {"app", "residents", "ingest-0", "rules-watch", "schedule", f"bridge-{served.compound_id}"}


def test_metrics_move_with_traffic(served: Served) -> None:
    bridge_before = samples(served.url("bridge", "/metrics"))
    ingest_before = samples(served.url("ingest", "/metrics"))
    decisions = []
    with httpx.Client(timeout=10) as client:
        for _ in range(30):
            reply = client.post(served.url("bridge", f"/v1/gates/{served.gate_id}/exit"), json={"method": "count"},
                                headers={"X-Gate-Key": GATE_KEY})
            assert reply.status_code == 200
            decisions.append((reply.json()["method"], reply.json()["result"]))
        refused = client.post(served.url("bridge", f"/v1/gates/{served.gate_id}/exit"), json={"method": "count"},
                              headers={"X-Gate-Key": "wrong"})
        assert refused.status_code == 401
        for _ in range(3):
            assert failed_login(client, served.url("app", "")) == 401
    (method, result), = set(decisions)
    bridge_after = samples(served.url("bridge", "/metrics"))
    gate = str(served.gate_id)
    counted = (value(bridge_after, "gridpulse_gate_decisions_total", gate=gate, method=method, result=result)
               - value(bridge_before, "gridpulse_gate_decisions_total", gate=gate, method=method, result=result))
    assert counted == 30, "every decision counted once, the refused request not at all"
    assert value(bridge_after, "gridpulse_gate_decision_seconds_count", method=method) >= 30
    assert value(bridge_after, "gridpulse_gate_outbox_depth") == 0
    assert value(bridge_after, "gridpulse_gate_redis_up") == 1

    def landed() -> float:
        return value(samples(served.url("ingest", "/metrics")), "gridpulse_ingest_events_landed_total")

    assert wait_for(lambda: landed() - value(ingest_before, "gridpulse_ingest_events_landed_total") >= 30, 30)
    ingest_after = samples(served.url("ingest", "/metrics"))
    assert value(ingest_after, "gridpulse_stream_lag") == 0 and value(ingest_after, "gridpulse_stream_pending") == 0
    assert ("gridpulse_dead_letter_length", ()) in ingest_after

    app = samples(served.url("app", "/metrics"))  # one scrape adds up both gunicorn workers
    assert value(app, "gridpulse_login_failures_total") == 3
    assert value(app, "gridpulse_app_request_seconds_count", kind="route", name="/login", status="401") == 3
    assert ("gridpulse_work_orders_overdue", ()) in app and value(app, "gridpulse_scrape_error", source="work") == 0

    jobs = samples(served.url("schedule", "/metrics"))
    assert value(jobs, "gridpulse_job_runs_total", job="escalate", outcome="ok") >= 1
    assert value(jobs, "gridpulse_job_runs_total", job="partitions", outcome="ok") == 1
    assert "job escalate ok" in (served.log_dir / "schedule.log").read_text()


def test_a_part_killed_with_9_is_started_again(served: Served) -> None:
    old = served.pids()["ingest-0"]
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: served.pids()["ingest-0"] != old, 30), "the supervisor did not restart ingest-0"
    assert "ingest-0 exited with -9" in (served.log_dir / "serve.log").read_text()
    assert wait_for(lambda: _healthy(served.url("ingest", "/healthz")), 60)


def test_sigterm_stops_every_part_cleanly(served: Served) -> None:
    pids = served.pids()
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=60) == 0
    for name, pid in pids.items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    log = (served.log_dir / "serve.log").read_text()
    assert "did not stop" not in log, "a part had to be killed"
    for name in ("ingest-0", "rules-watch", "schedule", "app"):
        assert f"{name} stopped (exit 0)" in log, name
