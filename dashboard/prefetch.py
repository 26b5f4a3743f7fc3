"""Starts a drill-down level's server work when the pointer goes down on the map, before the click.

A click on the map reaches the drill-down's callback only after pointerup and a few steps inside Dash
(on a software GPU 100–200 ms, while the page's frames hold the main thread). ``assets/deckmap.js``
posts the place the pointer went down on to ``/drill/prefetch``; the level is computed then, for the
session's viewer, and the callback that follows for the same place and viewer takes that result
(waiting for it when it is still being computed) instead of computing it again. Only levels without
people (region, grid, building, floor): reads of people are audited when they are shown, never ahead.
A refusal is computed (and audited) once and handed to the callback the same way. Unclaimed results
expire after ``TTL_S``.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from core.viewer import Viewer

TTL_S = 5.0
KINDS = ("region", "grid", "building", "floor")
WAIT_S = 5.0

_compute: Callable[[Viewer, str], Any] | None = None
_lock = threading.Lock()
_entries: dict[tuple, tuple[float, threading.Event, list[Any]]] = {}


def register(compute: Callable[[Viewer, str], Any]) -> None:
    """The drill-down's level function: (viewer, search) → the callback's outputs."""
    global _compute
    _compute = compute


def _key(viewer: Viewer, search: str) -> tuple:
    return (viewer.username, viewer.role.value, viewer.prefixes, search)


def prefetchable(search: str) -> bool:
    place = search.split("place=", 1)[1].split("&", 1)[0] if "place=" in search else ""
    return place.split(":", 1)[0] in KINDS


def start(viewer: Viewer, search: str) -> bool:
    """Compute the level for ``search`` now (in this request's thread), unless it is already there."""
    if _compute is None or not prefetchable(search):
        return False
    key = _key(viewer, search)
    now = time.monotonic()
    with _lock:
        for k in [k for k, (t, _, _) in _entries.items() if now - t > TTL_S]:
            del _entries[k]
        if key in _entries:
            return True
        done, box = threading.Event(), []
        _entries[key] = (now, done, box)
    try:
        box.append(_compute(viewer, search))
    finally:
        done.set()
    return True


def claim(viewer: Viewer, search: str) -> tuple[bool, Any]:
    """(True, outputs) when a prefetch for this viewer and place is there (waiting for it if needed)."""
    with _lock:
        entry = _entries.pop(_key(viewer, search), None)
    if entry is None or time.monotonic() - entry[0] > TTL_S:
        return False, None
    _, done, box = entry
    if not done.wait(WAIT_S) or not box:
        return False, None
    return True, box[0]
