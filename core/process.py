"""What every long-running command needs: logging set up once, and a stop flag raised by SIGTERM/SIGINT
so that a worker finishes its batch and exits cleanly instead of dying mid-way."""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable


def long_running(name: str) -> Callable[[], bool]:
    """Configure logging and return ``should_stop()``, which turns true on SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(name)s %(levelname)s %(message)s")
    stopped = threading.Event()

    def stop(*_: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopped.is_set
