"""Signed QR codes, verified offline at the gate with the platform's public key (Ed25519).

Payload ``GP1.<base64url>``: a fixed binary layout (version, kind, key id, validity, subject,
compound, nonce) followed by the Ed25519 signature over it. Compact enough for a dense QR; the key
id lets the platform rotate keys while gates hold several public keys. Resident codes live ≤ 60 s
and are single-use (see replay.py); visitor passes live ≤ 24 h and count entries.

The platform signs with ``cryptography``; the gate checks with libsodium through PyNaCl (the same
PyCA maintainers). The check is most of a QR decision's CPU, and libsodium's takes half of
OpenSSL's here (38 µs against 84 µs, bench/gate_bench.py); it also refuses non-canonical signatures
and small-order keys, so a signature cannot be reshaped into a second valid one.
"""
from __future__ import annotations

import base64
import datetime as dt
import secrets
import struct
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from core.errors import GridPulseError
from credentials.reasons import Reason

PREFIX = "GP1."
VERSION = 1
RESIDENT, VISITOR = b"R", b"V"
RESIDENT_TTL = dt.timedelta(seconds=60)
VISITOR_MAX = dt.timedelta(hours=24)
# version, kind, key id, not before, not after, person id, pass id, compound id, nonce
_LAYOUT = struct.Struct(">B c 4s I I Q 16s I 8s")
_SIG = 64


class QrRejected(GridPulseError):
    """A QR payload that must not open the gate; ``reason`` is the code the gate shows and logs."""


@dataclass(frozen=True)
class QrClaims:
    kind: str  # resident | visitor
    key_id: str
    not_before: dt.datetime
    not_after: dt.datetime
    person_id: int | None
    pass_id: uuid.UUID | None
    compound_id: int
    nonce: str


def _encode(key: Ed25519PrivateKey, key_id: str, kind: bytes, not_before: dt.datetime, not_after: dt.datetime,
            person_id: int, pass_id: uuid.UUID | None, compound_id: int) -> str:
    body = _LAYOUT.pack(VERSION, kind, bytes.fromhex(key_id), int(not_before.timestamp()), int(not_after.timestamp()),
                        person_id, (pass_id or uuid.UUID(int=0)).bytes, compound_id, secrets.token_bytes(8))
    return PREFIX + base64.urlsafe_b64encode(body + key.sign(body)).decode().rstrip("=")


def resident_code(key: Ed25519PrivateKey, key_id: str, person_id: int, compound_id: int,
                  now: dt.datetime | None = None, ttl: dt.timedelta = RESIDENT_TTL) -> str:
    if ttl > RESIDENT_TTL:
        raise ValueError("a resident code lives at most 60 seconds")
    now = now or dt.datetime.now(dt.timezone.utc)
    return _encode(key, key_id, RESIDENT, now, now + ttl, person_id, None, compound_id)


def visitor_code(key: Ed25519PrivateKey, key_id: str, pass_id: uuid.UUID, compound_id: int,
                 valid_from: dt.datetime, valid_to: dt.datetime) -> str:
    if valid_to - valid_from > VISITOR_MAX or valid_to <= valid_from:
        raise ValueError("a visitor pass is valid for at most 24 hours")
    return _encode(key, key_id, VISITOR, valid_from, valid_to, 0, pass_id, compound_id)


def verify(payload: str, public_keys: dict[str, Ed25519PublicKey], now: dt.datetime | None = None,
           skew: dt.timedelta = dt.timedelta(seconds=5)) -> QrClaims:
    """Check format, key, signature and validity window; raise QrRejected with a reason code."""
    if not isinstance(payload, str) or not payload.startswith(PREFIX) or len(payload) > 400:
        raise QrRejected("not a GridPulse code", record=Reason.qr_malformed.value)
    try:
        raw = base64.urlsafe_b64decode(payload[len(PREFIX):] + "=" * (-len(payload[len(PREFIX):]) % 4))
    except (ValueError, TypeError):
        raise QrRejected("the code is not valid base64url", record=Reason.qr_malformed.value) from None
    if len(raw) != _LAYOUT.size + _SIG:
        raise QrRejected("the code has the wrong length", record=Reason.qr_malformed.value)
    body, signature = raw[:_LAYOUT.size], raw[_LAYOUT.size:]
    version, kind, key_id, nbf, naf, person_id, pass_bytes, compound_id, nonce = _LAYOUT.unpack(body)
    if version != VERSION or kind not in (RESIDENT, VISITOR):
        raise QrRejected(f"unsupported code version {version}", record=Reason.qr_malformed.value)
    public = public_keys.get(key_id.hex())
    if public is None:
        raise QrRejected(f"unknown signing key {key_id.hex()}", record=Reason.qr_unknown_key.value)
    try:
        crypto_sign_open(signature + body, public.public_bytes_raw())  # libsodium: releases the GIL
    except BadSignatureError:
        raise QrRejected("the signature does not match: forged or altered", record=Reason.qr_bad_signature.value) from None
    if naf <= nbf or naf - nbf > (RESIDENT_TTL if kind == RESIDENT else VISITOR_MAX).total_seconds():
        raise QrRejected("the code's validity window is longer than its kind allows", record=Reason.qr_malformed.value)
    now = now or dt.datetime.now(dt.timezone.utc)
    not_before = dt.datetime.fromtimestamp(nbf, tz=dt.timezone.utc)
    not_after = dt.datetime.fromtimestamp(naf, tz=dt.timezone.utc)
    if now + skew < not_before:
        raise QrRejected("the code is not valid yet", record=Reason.qr_not_yet_valid.value)
    if now - skew > not_after:
        raise QrRejected("the code has expired", record=Reason.qr_expired.value)
    return QrClaims(
        kind="resident" if kind == RESIDENT else "visitor", key_id=key_id.hex(), not_before=not_before,
        not_after=not_after, person_id=person_id or None,
        pass_id=uuid.UUID(bytes=pass_bytes) if kind == VISITOR else None, compound_id=compound_id, nonce=nonce.hex(),
    )
