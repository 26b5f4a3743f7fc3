"""A small process supervisor: start children, restart one that dies, stop them all cleanly.

Why not only systemd: `gridpulse serve` must also run where there is no systemd (a container, a
developer's machine, `make demo`-like trials), and one command that starts a whole street is what an
operator asks for first. Under systemd the same command runs as one unit (deploy/systemd), and systemd
restarts the supervisor itself.

Restarts back off (1 s, 2 s, 4 s … at most ``max_backoff_s``) so a child that fails at once (the database is
down) does not spin; a child that ran ``healthy_after_s`` is forgiven its earlier failures. On stop every
child gets SIGTERM (each finishes its batch: core/process.py), then SIGKILL after ``grace_s``.

Children log to their stderr, which the supervisor reads line by line: with ``log_dir`` into
``<log_dir>/<child>.log``, rotated by size (one writer per file, also for a part with several worker
processes), else onto its own stderr (journald under systemd).
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("gridpulse.serve")


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: int = 0
    sink: logging.Logger | None = None


class Supervisor:
    def __init__(self, children: Sequence[Child], *, cwd: Path, grace_s: float = 20.0, max_backoff_s: float = 30.0,
                 healthy_after_s: float = 60.0, log_dir: Path | None = None, log_max_bytes: int = 50 << 20,
                 log_backups: int = 5) -> None:
        names = [c.name for c in children]
        if len(set(names)) != len(names):
            raise ValueError(f"two children share a name: {sorted(n for n in names if names.count(n) > 1)}")
        self.children = list(children)
        self.cwd, self.grace_s, self.max_backoff_s, self.healthy_after_s = cwd, grace_s, max_backoff_s, healthy_after_s
        self.log_dir, self.log_max_bytes, self.log_backups = log_dir, log_max_bytes, log_backups

    def _sink(self, child: Child) -> logging.Logger:
        if child.sink is None:
            sink = logging.getLogger(f"gridpulse.serve.child.{child.name}")
            sink.propagate = False
            sink.setLevel(logging.DEBUG)  # the child filtered by its own level already
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                handler: logging.Handler = logging.handlers.RotatingFileHandler(
                    self.log_dir / f"{child.name}.log", maxBytes=self.log_max_bytes, backupCount=self.log_backups,
                    encoding="utf-8")
            else:
                handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))  # the child's line as it wrote it
            sink.addHandler(handler)
            child.sink = sink
        return child.sink

    def _pump(self, child: Child, proc: subprocess.Popen) -> None:
        sink = self._sink(child)
        for raw in iter(proc.stdout.readline, b""):  # type: ignore[union-attr]
            sink.info(raw.decode("utf-8", "replace").rstrip("\n"))
        proc.stdout.close()  # type: ignore[union-attr]

    def _start(self, child: Child) -> None:
        # A session of its own: a terminal's Ctrl-C reaches the supervisor only, which stops the children
        # in order instead of all of them dying at once mid-batch. Children log to stderr (no log dir of
        # their own): the supervisor is the one writer of each log file.
        child.proc = subprocess.Popen(list(child.argv), cwd=self.cwd, env={**os.environ, "GRIDPULSE_LOG_DIR": "", **child.env},
                                      start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._pump, args=(child, child.proc), name=f"log:{child.name}", daemon=True).start()
        child.started = time.monotonic()
        child.restart_at = None
        log.info("started %s (pid %d): %s", child.name, child.proc.pid, " ".join(child.argv))

    def _check(self, child: Child, now: float) -> None:
        if child.proc is None:
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)
            return
        code = child.proc.poll()
        if code is None:
            if child.failures and now - child.started > self.healthy_after_s:
                child.failures = 0
            return
        child.proc = None
        child.failures += 1
        delay = min(self.max_backoff_s, 2.0 ** (child.failures - 1))
        child.restart_at = now + delay
        log.error("%s exited with %d; restarting in %.0f s (failure %d in a row)", child.name, code, delay, child.failures)

    def run(self, should_stop: Callable[[], bool], poll_s: float = 0.5) -> int:
        for child in self.children:
            self._start(child)
        try:
            while not should_stop():
                now = time.monotonic()
                for child in self.children:
                    self._check(child, now)
                time.sleep(poll_s)
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            log.info("stopping %s (pid %d)", child.name, child.proc.pid)  # type: ignore[union-attr]
            child.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + self.grace_s
        for child in running:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
                log.info("%s stopped (exit %s)", child.name, child.proc.returncode)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                log.error("%s did not stop within %.0f s; killing it", child.name, self.grace_s)
                os.killpg(child.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
                child.proc.wait()  # type: ignore[union-attr]
