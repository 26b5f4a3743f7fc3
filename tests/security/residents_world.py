"""The resident services for the security tests: the gate bridge's test world (tests/gate_fixtures.py)
behind a real uvicorn server on a free port, with its own Redis prefix and the limits a test sets."""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import redis
import uvicorn
from sqlalchemy import select

from core.config import settings, trust_settings
from blockdata.db import transaction
from blockdata.models import Person
from residents.api import create_api
from residents.app_tokens import mint
from tests.browser import free_port
from tests.gate_fixtures import GateWorld, build_gate_world, remove_gate_world


@dataclasses.dataclass
class Residents:
    world: GateWorld
    url: str
    pids: dict[str, uuid.UUID]

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {mint(self.pids[who])}"})


@contextmanager
def residents_api(monkeypatch_env: dict[str, str]) -> Iterator[Residents]:
    """``monkeypatch_env``: settings (e.g. GRIDPULSE_GRANTS_PER_HOUR) in force while the server runs."""
    import os

    saved = {k: os.environ.get(k) for k in monkeypatch_env}
    os.environ.update(monkeypatch_env)
    trust_settings.cache_clear()
    world = build_gate_world(fake_faces_seed=5)
    prefix = f"{settings().redis_prefix}sec{uuid.uuid4().hex[:6]}:"
    server = uvicorn.Server(uvicorn.Config(create_api(dataclasses.replace(settings(), redis_prefix=prefix)),
                                           host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    with transaction() as s:
        pids = {who: s.scalar(select(Person.pid).where(Person.id == pid)) for who, pid in world.people.items()}
    try:
        yield Residents(world, f"http://127.0.0.1:{server.config.port}", pids)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        remove_gate_world(world)
        client = redis.Redis.from_url(settings().redis_url)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        trust_settings.cache_clear()
