"""A redis-server of a test's own, started from the shipped configuration (deploy/redis/gridpulse.conf)
on a free port in a temporary folder: tests may kill it; the shared Redis is never touched."""
from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.browser import free_port
from tests.conftest import ROOT
from tests.streams import wait_for

CONF = ROOT / "deploy" / "redis" / "gridpulse.conf"


@dataclass
class OwnRedis:
    port: int
    workdir: Path
    overrides: tuple[str, ...] = ()
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen([binary, str(CONF), "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", str(self.workdir), *self.overrides],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        if not wait_for(lambda: _pings(client), 15):
            raise RuntimeError(f"own redis-server on port {self.port} did not start")

    def kill_9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@contextmanager
def own_redis(*overrides: str) -> Iterator[OwnRedis]:
    server = OwnRedis(free_port(), Path(tempfile.mkdtemp(prefix="gp-ops-redis-")), overrides)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        shutil.rmtree(server.workdir, ignore_errors=True)
