"""The resident services' own settings, read from the environment in this one place.

Platform-wide settings (database, Redis, key file, floor area per occupant) stay in core/config.py.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class ResidentSettings:
    issuer: str
    issuer_public_key: Path | None  # None: the demo issuer's key from the key file
    audience: str
    token_max_age_s: int
    passes_per_hour: int
    consent_notice_version: str
    port: int


@lru_cache(maxsize=1)
def resident_settings() -> ResidentSettings:
    key = _env("GRIDPULSE_APP_ISSUER_PUBLIC_KEY", "")
    return ResidentSettings(
        # The city app's token issuer (iss) and its Ed25519 public key (PEM). Without a key file the
        # demo issuer of the key file signs and verifies: `gridpulse app-token` mints demo tokens.
        issuer=_env("GRIDPULSE_APP_ISSUER", "gridpulse-demo-issuer"),
        issuer_public_key=Path(key) if key else None,
        audience=_env("GRIDPULSE_APP_AUDIENCE", "gridpulse-residents"),
        # A token whose lifetime (exp - iat) is longer than this is refused, whatever its signature.
        token_max_age_s=int(_env("GRIDPULSE_APP_TOKEN_MAX_AGE_S", "3600")),
        # Visitor passes an owner may request per rolling hour (HTTP 429 beyond).
        passes_per_hour=int(_env("GRIDPULSE_PASSES_PER_HOUR", "10")),
        # The face-consent notice the app shows; a consent names the version the resident agreed to.
        consent_notice_version=_env("GRIDPULSE_CONSENT_NOTICE_VERSION", "2026-12"),
        port=int(_env("GRIDPULSE_RESIDENTS_PORT", "8070")),
    )
