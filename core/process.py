"""What every long-running command needs: logging set up once, and a stop flag raised by SIGTERM/SIGINT
so that a worker finishes its batch and exits cleanly instead of dying mid-way."""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from core import logs


def long_running(name: str) -> Callable[[], bool]:
    """Configure logging (core/logs.py) and return ``should_stop()``, which turns true on SIGTERM or SIGINT.

    A stop that comes before the first ``should_stop()`` call — while the command still sets up (the
    simulator loads the face models and embeds its photos for tens of seconds) — ends it at once:
    nothing is in flight yet, and `make demo`'s Ctrl-C should not wait for a set-up to finish."""
    logs.setup(name)
    stopped = threading.Event()
    running = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        stopped.set()
        if not running.is_set():
            raise SystemExit(128 + signum)

    def should_stop() -> bool:
        running.set()
        return stopped.is_set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return should_stop
