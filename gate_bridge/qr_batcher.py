"""QR decisions of many gates at once, decided in batches by a few worker threads.

Why: a thread per request that verifies, decides and waits for its own event's round trip spends
more CPU handing the GIL and the Redis connection between threads than deciding (bench/gate_bench.py
measured 326 µs of CPU a decision at 16 gates, 126 of them the signature check). Here the request's
thread only queues its scan and sleeps until its decision is ready; ``workers`` threads (one per core)
each take every scan waiting, check the signatures (the checks release the GIL, so the workers use
both cores), decide, and publish the whole batch's events in one round trip while the other worker
checks the next batch.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from gate_bridge.publisher import held_lock

MAX_BATCH = 128


@dataclass(eq=False)
class _Scan:
    gate_id: int
    payload: str
    now: dt.datetime | None
    result: object = None
    ready: threading.Lock = field(default_factory=held_lock)  # released when the decision is in ``result``


class QrBatcher:
    def __init__(self, decide: Callable[[list[tuple[int, str, dt.datetime | None]]], list], workers: int | None = None) -> None:
        self._decide = decide
        self._pending: list[_Scan] = []
        self._wake = threading.Condition()
        for i in range(workers or os.cpu_count() or 2):
            threading.Thread(target=self._work, name=f"qr-batcher-{i}", daemon=True).start()

    def decide(self, gate_id: int, payload: str, now: dt.datetime | None = None):  # noqa: ANN201 - a policy Decision
        scan = _Scan(gate_id, payload, now)
        with self._wake:
            self._pending.append(scan)
            self._wake.notify()
        scan.ready.acquire()
        if isinstance(scan.result, BaseException):
            raise scan.result
        return scan.result

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    self._wake.wait()
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = self._decide([(s.gate_id, s.payload, s.now) for s in batch])
            except BaseException as exc:  # noqa: BLE001 - every scan of the batch hears of it; the worker goes on
                results = [exc] * len(batch)
            for scan, result in zip(batch, results):
                scan.result = result
                scan.ready.release()
