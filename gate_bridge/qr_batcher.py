"""QR decisions of many gates at once, decided in batches by a few worker threads.

Why: a thread per request that verifies, decides and waits for its own event's round trip spends
more CPU handing the GIL and the Redis connection between threads than deciding (bench/gate_bench.py
measured 326 µs of CPU a decision at 16 gates, 126 of them the signature check). Here a scan only
joins the queue; ``workers`` threads (one per core) each take the scans waiting — their share when
many wait —, check the signatures (the checks release the GIL, so the workers use both cores),
decide, and publish the whole batch's events in one round trip while the other worker checks the
next batch.

Two ways in. The bridge's HTTP endpoint awaits ``decide_async`` on the event loop: no thread per
request at all, and a batch's results reach the loop in one call (one wake-up per batch, not per
scan). Code that runs in threads (the simulator, tests) calls ``decide`` and sleeps on a lock until
its decision is ready.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from gate_bridge.publisher import held_lock

MAX_BATCH = 128
MIN_SPLIT = 16  # fewer scans waiting than this go to one worker: a batch's own cost outweighs sharing it


@dataclass(eq=False, slots=True)
class _Scan:
    gate_id: int
    payload: str
    now: dt.datetime | None
    ready: threading.Lock | None = None  # a thread's scan: released when the decision is in ``result``
    future: asyncio.Future | None = None  # a coroutine's scan: its decision or exception, set on its loop
    result: object = None


def _settle(done: list[_Scan]) -> None:
    """On the loop: hand each awaiting coroutine its decision (a scan whose request went away is skipped)."""
    for scan in done:
        if not scan.future.done():
            if isinstance(scan.result, BaseException):
                scan.future.set_exception(scan.result)
            else:
                scan.future.set_result(scan.result)


class QrBatcher:
    def __init__(self, decide: Callable[[list[tuple[int, str, dt.datetime | None]]], list], workers: int | None = None) -> None:
        self._decide = decide
        self._pending: list[_Scan] = []
        self._wake = threading.Condition()
        self._idle = 0  # workers waiting for scans
        for i in range(workers or os.cpu_count() or 2):
            threading.Thread(target=self._work, name=f"qr-batcher-{i}", daemon=True).start()

    def decide(self, gate_id: int, payload: str, now: dt.datetime | None = None):  # noqa: ANN201 - a policy Decision
        """From a thread: queue the scan and sleep until it is decided."""
        scan = _Scan(gate_id, payload, now, ready=held_lock())
        self._queue(scan)
        scan.ready.acquire()
        if isinstance(scan.result, BaseException):
            raise scan.result
        return scan.result

    async def decide_async(self, gate_id: int, payload: str, now: dt.datetime | None = None):  # noqa: ANN201
        """From a coroutine: queue the scan and await its decision without holding a thread."""
        scan = _Scan(gate_id, payload, now, future=asyncio.get_running_loop().create_future())
        self._queue(scan)
        return await scan.future

    def _queue(self, scan: _Scan) -> None:
        with self._wake:
            self._pending.append(scan)
            self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    self._idle += 1
                    self._wake.wait()
                    self._idle -= 1
                # A share, not all: with every gate's scan in one batch the other workers would idle
                # while this one checks them all (the checks are what runs on both cores at once).
                waiting = len(self._pending)
                take = min(MAX_BATCH, waiting if waiting < MIN_SPLIT else -(-waiting // (1 + self._idle)))
                batch, self._pending = self._pending[:take], self._pending[take:]
            try:
                results = self._decide([(s.gate_id, s.payload, s.now) for s in batch])
            except BaseException as exc:  # noqa: BLE001 - every scan of the batch hears of it; the worker goes on
                results = [exc] * len(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[_Scan]] = {}
            for scan, result in zip(batch, results):
                scan.result = result
                if scan.ready is not None:
                    scan.ready.release()
                else:
                    by_loop.setdefault(scan.future.get_loop(), []).append(scan)
            for loop, done in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, done)
                except RuntimeError:  # that loop has closed: nobody awaits these any more
                    pass
