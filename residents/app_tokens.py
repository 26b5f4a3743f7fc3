"""The city app's signed tokens: EdDSA JWTs naming the resident (sub = person pid) for this API.

Verification is offline with the issuer's public key: signature, issuer, audience, expiry, a bounded
lifetime and a resident that exists. Anything else is TokenRejected with what was wrong (HTTP 401).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.keys import load_resident_secrets
from core.errors import GridPulseError
from core.config import resident_settings


class TokenRejected(GridPulseError):
    """An app token that must not be accepted (forged, expired, for another audience, …)."""


@dataclass(frozen=True)
class AppIdentity:
    person_pid: uuid.UUID
    token_id: str


def issuer_public_key() -> Ed25519PublicKey:
    cfg = resident_settings()
    if cfg.issuer_public_key is None:
        return load_resident_secrets().demo_issuer_key.public_key()
    key = serialization.load_pem_public_key(cfg.issuer_public_key.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise TokenRejected(f"{cfg.issuer_public_key} is not an Ed25519 public key", record="issuer key")
    return key


def mint(person_pid: uuid.UUID, *, lifetime: dt.timedelta = dt.timedelta(minutes=30),
         key: Ed25519PrivateKey | None = None, now: dt.datetime | None = None, **extra: object) -> str:
    """A token from the demo issuer (what the city app would send); tests use other keys to forge."""
    cfg = resident_settings()
    now = now or dt.datetime.now(dt.timezone.utc)
    claims = {"iss": cfg.issuer, "aud": cfg.audience, "sub": str(person_pid), "iat": int(now.timestamp()),
              "exp": int((now + lifetime).timestamp()), "jti": uuid.uuid4().hex, **extra}
    return jwt.encode(claims, key or load_resident_secrets().demo_issuer_key, algorithm="EdDSA")


def verify(token: str, public_key: Ed25519PublicKey | None = None) -> AppIdentity:
    cfg = resident_settings()
    try:
        claims = jwt.decode(
            token, public_key or issuer_public_key(), algorithms=["EdDSA"], audience=cfg.audience, issuer=cfg.issuer,
            options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"]}, leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejected("the app token has expired: sign in to the app again", record="token") from None
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(f"the app token is not valid: {exc}", record="token") from None
    if int(claims["exp"]) - int(claims["iat"]) > cfg.token_max_age_s:
        raise TokenRejected(f"the app token lives longer than {cfg.token_max_age_s} s", record="token")
    try:
        pid = uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise TokenRejected("the app token's subject is not a resident id", record="token") from None
    return AppIdentity(person_pid=pid, token_id=str(claims["jti"]))
