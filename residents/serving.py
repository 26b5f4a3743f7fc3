"""The resident services as served: the API behind /metrics, /healthz and a latency histogram
(core/asgi_observe.py). A factory, so uvicorn can start it in each of its worker processes."""
from __future__ import annotations

from core import logs
from core.asgi_observe import Observed
from core.health import default_probes
from residents.api import create_api


def observed_api() -> Observed:
    """Every worker is stateless (rate limits live in Redis, everything else in PostGIS), so any number
    of uvicorn workers answer alike. Logging is set up here too: uvicorn starts its workers afresh."""
    logs.setup("residents-api")
    return Observed(create_api(), "residents", default_probes())
