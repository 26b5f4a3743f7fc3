"""``/layers/buildings/bbox.json?bbox=W,S,E,N[&fill=alerts]``: the buildings of a zoomed-in view.

The aggregated map of a city or district viewer (layers/regions.py, assets/deckmap.js) asks for the buildings
inside its view once zoomed in past ``BUILDING_ZOOM``. The jurisdiction is applied in the query
(layers/viewport.py), so a box drawn over another district returns only the viewer's own buildings (none,
there). A malformed or oversized box is refused with 400 and the reason, before any query runs.

Answers are gzipped and kept ``LAYER_TTL_S`` per jurisdiction, colouring and box, in a cache bounded to
``MAX_ENTRIES`` (boxes are as many as views: an unbounded cache would grow with every pan). The browser
snaps its boxes outward to a coarse grid, so neighbouring views share entries.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import flask

from blockdata.db import transaction
from core.errors import InvalidInput
from core.viewer import Viewer
from dashboard.vendor import LAYER_TTL_S, Gzipped
from layers.viewport import FILLS, MAX_ROWS, building_bbox_rows, parse_bbox

MAX_ENTRIES = 512

_cache: OrderedDict[Any, Gzipped] = OrderedDict()
_lock = threading.Lock()


def _cached(key: Any, make: Callable[[], bytes]) -> Gzipped:
    with _lock:
        hit = _cache.get(key)
        if hit is not None and time.monotonic() - hit.made < LAYER_TTL_S:
            _cache.move_to_end(key)
            return hit
    value = Gzipped(make(), "application/json")
    with _lock:
        _cache[key] = value
        _cache.move_to_end(key)
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
    return value


def bbox_payload(viewer: Viewer, raw_bbox: str | None, fill: str | None) -> Gzipped:
    """The gzipped answer for this viewer and box; InvalidInput for a bad box."""
    box = parse_bbox(raw_bbox)
    fill = fill if fill in FILLS else FILLS[0]

    def make() -> bytes:
        with transaction() as session:
            rows, truncated = building_bbox_rows(session, viewer, box, fill=fill)
        body = {"bbox": box.as_list(), "rows": rows, "truncated": truncated, "limit": MAX_ROWS}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return _cached(("bbox", viewer.role.value, viewer.prefixes, fill, tuple(box.as_list())), make)


def install(server: flask.Flask, viewer_of_request: Callable[[], Viewer | None]) -> None:
    @server.route("/layers/buildings/bbox.json")
    def buildings_in_view():  # noqa: ANN202
        viewer = viewer_of_request()
        if viewer is None:
            return flask.jsonify({"error": "login required"}), 401
        try:
            payload = bbox_payload(viewer, flask.request.args.get("bbox"), flask.request.args.get("fill"))
        except InvalidInput as exc:
            return flask.jsonify({"error": exc.reason}), 400
        return payload.response(max_age=int(LAYER_TTL_S))
