"""What `gridpulse serve` runs on one machine: the app under gunicorn, the resident services under uvicorn
workers, the ingest workers, the fast rules, the scheduler and a gate bridge per compound.

Each part is the same command an operator could run alone (so a part can move to another machine:
docs/DEPLOY.md); children run with this interpreter, from the checkout.
"""
from __future__ import annotations

import socket
import sys
from collections.abc import Iterable

from sqlalchemy import text

from core.config import OpsSettings, ops_settings, resident_settings
from core.errors import InvalidInput
from ops.supervisor import Child

PARTS = ("app", "residents", "ingest", "rules", "schedule", "bridges")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def compound_ids() -> list[int]:
    """Every compound of the street: one bridge each."""
    from blockdata.db import transaction

    with transaction() as session:
        return [int(i) for i in session.execute(text("SELECT id FROM compound ORDER BY id")).scalars()]


def children(parts: Iterable[str] = PARTS, *, compounds: Iterable[int] | None = None,
             ops: OpsSettings | None = None) -> list[Child]:
    ops = ops or ops_settings()
    wanted = set(parts)
    unknown = wanted - set(PARTS)
    if unknown:
        raise InvalidInput(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}", record="--only/--without")
    out: list[Child] = []
    if "app" in wanted:
        out.append(Child("app", [sys.executable, "-m", "gunicorn", "-c", "ops/gunicorn_conf.py",
                                  "--no-control-socket", "app:server"]))
    if "residents" in wanted:
        out.append(Child("residents", _cli("residents-api", "--port", str(resident_settings().port),
                                           "--workers", str(ops.api_workers))))
    if "ingest" in wanted:
        host = socket.gethostname()
        for i in range(ops.ingest_workers):
            # A stable consumer name per slot: a restarted worker re-reads what it had not acked.
            out.append(Child(f"ingest-{i}", _cli("ingest", "--consumer", f"{host}-ingest-{i}",
                                                 "--metrics-port", str(ops.metrics_port_base + 1 + i))))
    if "rules" in wanted:
        # The full sweep is the scheduler's (logged and counted there); the watch sweeps incrementally.
        out.append(Child("rules-watch", _cli("rules", "watch", "--full-sweep-every", "0",
                                             "--metrics-port", str(ops.metrics_port_base - 1))))
    if "schedule" in wanted:
        out.append(Child("schedule", _cli("schedule", "--metrics-port", str(ops.metrics_port_base))))
    if "bridges" in wanted:
        for compound in (compound_ids() if compounds is None else compounds):
            out.append(Child(f"bridge-{compound}", _cli("bridge", "--compound", str(compound),
                                                         "--port", str(ops.bridge_port_base + compound))))
    return out
