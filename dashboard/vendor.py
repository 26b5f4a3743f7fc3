"""Routes that serve what the map needs without any request leaving the server.

- ``/vendor/deck.js``: the @deck.gl/core, @deck.gl/layers and @deck.gl/json UMD bundles from
  ``node_modules`` (installed by ``npm ci`` from the committed lockfile at set-up, never copied into git),
  joined into one file, gzipped once per process and cached by the browser (ETag). The base map is drawn
  with @deck.gl/layers' BitmapLayer (assets/deckmap.js), so geo-layers is not needed.
- ``/layers/<name>.json``: the big layers (grids, their outlines, buildings) for the session's viewer, gzipped once
  and kept for ``LAYER_TTL_S`` per jurisdiction, so the Dash layout and callbacks never carry them.
- ``/layers/{districts,streets,district_outlines,street_outlines,flows}.json``: a city or district viewer's
  aggregated map (layers/regions.py), cached the same way; the buildings of a zoomed-in view come from
  ``/layers/buildings/bbox.json`` (dashboard/viewport_routes.py).
- ``/layers/dwellings/<building id>.json``: one building's dwellings floor by floor, for the one map zoomed
  into it; the query layer checks the building against the viewer's jurisdiction (a refusal is audited).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask

from core.config import PROJECT_ROOT
from core.viewer import Viewer
from blockdata.db import transaction
from core.errors import AccessDenied, NotFound
from layers.buildings import building_rows
from layers.dwellings import dwelling_rows
from layers.grids import grid_outline_rows, grid_rows
from layers.regions import flow_rows, region_outline_rows, region_rows

NODE_MODULES = PROJECT_ROOT / "node_modules"
# Every map page: deck.gl's core (with luma.gl and loaders.gl inside), its layers and the JSON converter —
# about half of the full `deck.gl` bundle, which the browser would otherwise parse on every page load.
BUNDLES = tuple(NODE_MODULES / "@deck.gl" / name / "dist.min.js" for name in ("core", "layers", "json"))
LAYER_TTL_S = 30.0

# Each UMD bundle reads the modules it needs from globalThis.deck, then replaces it with its own exports:
# keep what was there.
_GLUE_BEFORE = "\n;globalThis.__gpDeck = globalThis.deck || {};\n"
_GLUE_AFTER = "\n;globalThis.deck = Object.assign({}, globalThis.__gpDeck, globalThis.deck); delete globalThis.__gpDeck;\n"


class Gzipped:
    """A body kept gzipped, with its ETag."""

    def __init__(self, raw: bytes, content_type: str) -> None:
        self.body = gzip.compress(raw, compresslevel=6)
        self.raw_size = len(raw)
        self.etag = hashlib.sha256(raw).hexdigest()[:24]
        self.content_type = content_type
        self.made = time.monotonic()

    def response(self, max_age: int) -> flask.Response:
        if flask.request.if_none_match and self.etag in flask.request.if_none_match:
            return flask.Response(status=304, headers={"ETag": f'"{self.etag}"'})
        headers = {"ETag": f'"{self.etag}"', "Cache-Control": f"private, max-age={max_age}", "Vary": "Accept-Encoding"}
        if "gzip" in flask.request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return flask.Response(self.body, content_type=self.content_type, headers=headers)
        return flask.Response(gzip.decompress(self.body), content_type=self.content_type, headers=headers)


def deck_bundle_missing(bundles: tuple[Path, ...] = BUNDLES) -> list[Path]:
    return [p for p in bundles if not p.exists()]


_cache: dict[Any, Gzipped] = {}
_lock = threading.Lock()


def _cached(key: Any, ttl: float, make: Callable[[], bytes], content_type: str) -> Gzipped:
    with _lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit.made < ttl:
        return hit
    value = Gzipped(make(), content_type)
    with _lock:
        _cache[key] = value
    return value


FILLS = {"grids": ("population", "alerts"), "buildings": ("occupancy", "alerts"), "grid_outlines": ("community",)}
# The aggregated map of a city or district viewer (layers/regions.py).
REGION_LAYERS = {"districts": "district", "streets": "street", "district_outlines": "district", "street_outlines": "street"}
FILLS |= {name: ("population", "alerts") for name in ("districts", "streets")} | {
    "district_outlines": ("level",), "street_outlines": ("level",), "flows": ("people",)}


def layer_payload(name: str, viewer: Viewer, fill: str | None = None) -> Gzipped:
    """The cached, gzipped rows of a big layer for this viewer's jurisdiction, coloured by ``fill``."""
    fill = fill if fill in FILLS[name] else FILLS[name][0]

    def make() -> bytes:
        from dashboard.live import population_by_grid
        with transaction() as session:
            if name == "grids":
                rows = grid_rows(session, viewer, fill=fill, population=population_by_grid(session, viewer))
            elif name == "grid_outlines":  # coloured per community, whatever the fill
                rows = grid_outline_rows(grid_rows(session, viewer, population={}))
            elif name in ("districts", "streets"):
                rows = region_rows(session, viewer, REGION_LAYERS[name], fill=fill, population=population_by_grid(session, viewer))
            elif name in ("district_outlines", "street_outlines"):
                rows = region_outline_rows(region_rows(session, viewer, REGION_LAYERS[name], population={}))
            elif name == "flows":
                rows = flow_rows(session, viewer)
            else:
                rows = building_rows(session, viewer, fill=fill)
        return json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()
    return _cached(("layer", name, fill, viewer.role.value, viewer.prefixes), LAYER_TTL_S, make, "application/json")


def _joined(bundles: tuple[Path, ...]) -> bytes:
    return b"".join(_GLUE_BEFORE.encode() + p.read_bytes() + _GLUE_AFTER.encode() for p in bundles)


def install(server: flask.Flask, viewer_of_request: Callable[[], Viewer | None]) -> None:
    def serve(name: str, bundles: tuple[Path, ...]) -> flask.Response:
        missing = deck_bundle_missing(bundles)
        if missing:
            return flask.Response(f"console.error('deck.gl missing: run npm ci ({missing[0]})');", 503,
                                  content_type="application/javascript")
        bundle = _cached(name, float("inf"), lambda: _joined(bundles), "application/javascript")
        return bundle.response(max_age=86400)

    @server.route("/vendor/deck.js")
    def deck_js():  # noqa: ANN202
        return serve("deck.js", BUNDLES)

    @server.route("/layers/<name>.json")
    def layer(name: str):  # noqa: ANN202
        viewer = viewer_of_request()
        if viewer is None:
            return flask.jsonify({"error": "login required"}), 401
        if name not in FILLS:
            flask.abort(404)
        return layer_payload(name, viewer, flask.request.args.get("fill")).response(max_age=int(LAYER_TTL_S))

    @server.route("/layers/dwellings/<int:building_id>.json")
    def building_dwellings(building_id: int):  # noqa: ANN202
        viewer = viewer_of_request()
        if viewer is None:
            return flask.jsonify({"error": "login required"}), 401

        def make() -> bytes:
            with transaction() as session:
                rows = dwelling_rows(session, viewer, building_id)
            return json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()
        try:  # cached per jurisdiction: a hit was allowed for this jurisdiction; a refusal is never cached
            payload = _cached(("dwellings", building_id, viewer.role.value, viewer.prefixes), LAYER_TTL_S, make,
                              "application/json")
        except AccessDenied:
            return flask.jsonify({"error": "outside your jurisdiction"}), 403
        except NotFound:
            flask.abort(404)
        return payload.response(max_age=int(LAYER_TTL_S))
