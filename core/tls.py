"""HTTPS for the services that serve it themselves (the gate bridge, the resident services): uvicorn's TLS
options from the certificate paths in config (GRIDPULSE_BRIDGE_TLS_CERT/_KEY, GRIDPULSE_RESIDENTS_TLS_CERT/_KEY).
The Dash app is served behind a TLS proxy instead (docs/SECURITY.md)."""
from __future__ import annotations

from pathlib import Path

from core.errors import InvalidInput


def uvicorn_tls(cert: Path | None, key: Path | None, env: str) -> dict[str, str]:
    """``ssl_certfile``/``ssl_keyfile`` when both are configured; neither: plain HTTP (on loopback only, say the
    docs); one without the other, or a path that is not there: a clear refusal to start."""
    if (cert is None) != (key is None):
        raise InvalidInput(f"set both {env}_CERT and {env}_KEY for HTTPS, or neither", record="TLS")
    if cert is None or key is None:
        return {}
    for path in (cert, key):
        if not path.is_file():
            raise InvalidInput(f"{path} does not exist: check {env}_CERT and {env}_KEY", record="TLS")
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
