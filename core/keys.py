"""One key file per service, so a process holds only the secrets its job needs (docs/SECURITY.md).

The platform's key file (GRIDPULSE_KEY_FILE, ``var/secrets.json``) holds every secret and stays with the app
and the operator. ``gridpulse keys split`` derives from it:

- the bridge's file (GRIDPULSE_BRIDGE_KEY_FILE, ``var/keys/bridge.json``): the QR *public* keys by key id —
  enough to verify resident codes and visitor passes offline, nothing to sign one with;
- the resident services' file (GRIDPULSE_RESIDENTS_KEY_FILE, ``var/keys/residents.json``): the ID-hashing key,
  the QR signing key and the demo issuer — no session secret.

A service's loader refuses a file that holds more than its own fields: a bridge pointed at the platform's
key file by mistake stops with a message instead of quietly holding the QR signing key.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.config import Secrets, bridge_settings, load_secrets, resident_settings, settings
from core.errors import InvalidInput

BRIDGE_FIELDS = frozenset({"qr_public_keys"})
RESIDENT_FIELDS = frozenset({"id_hash_key", "qr_signing_key", "qr_key_id", "demo_issuer_key"})


class KeyFileError(InvalidInput):
    """A service key file that is missing, readable by others, or holds secrets that are not its service's."""


@dataclass(frozen=True)
class BridgeKeys:
    """All a gate bridge holds: public keys to verify QR codes with."""

    qr_public_keys: dict[str, Ed25519PublicKey]


@dataclass(frozen=True)
class ResidentSecrets:
    """What the resident services hold: hash ID numbers, sign resident codes and passes, the demo issuer."""

    id_hash_key: bytes
    qr_signing_key: Ed25519PrivateKey
    qr_key_id: str
    demo_issuer_key: Ed25519PrivateKey


def _read_private(path: Path, fields: frozenset[str], service: str, env: str) -> dict:
    if not path.exists():
        raise KeyFileError(f"no key file at {path}: run `gridpulse keys split` (or set {env})", record=f"{service} key file")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}", record=f"{service} key file")
    doc = json.loads(path.read_text())
    extra = sorted(set(doc) - fields)
    if extra:
        raise KeyFileError(f"{path} holds {', '.join(extra)}, which the {service} must not hold: point {env} at the "
                           f"{service}'s own file (`gridpulse keys split`)", record=f"{service} key file")
    missing = sorted(fields - set(doc))
    if missing:
        raise KeyFileError(f"{path} lacks {', '.join(missing)}: run `gridpulse keys split` again", record=f"{service} key file")
    return doc


def load_bridge_keys(path: Path | None = None) -> BridgeKeys:
    doc = _read_private(path or bridge_settings().key_file, BRIDGE_FIELDS, "gate bridge", "GRIDPULSE_BRIDGE_KEY_FILE")
    return BridgeKeys({kid: Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw)) for kid, raw in doc["qr_public_keys"].items()})


def load_resident_secrets(path: Path | None = None) -> ResidentSecrets:
    """The resident services' secrets, read once per process (a changed file needs a restart)."""
    return _resident_secrets(path or resident_settings().key_file)


@lru_cache(maxsize=4)
def _resident_secrets(path: Path) -> ResidentSecrets:
    doc = _read_private(path, RESIDENT_FIELDS, "resident services", "GRIDPULSE_RESIDENTS_KEY_FILE")
    return ResidentSecrets(
        id_hash_key=bytes.fromhex(doc["id_hash_key"]),
        qr_signing_key=Ed25519PrivateKey.from_private_bytes(bytes.fromhex(doc["qr_signing_key"])),
        qr_key_id=doc["qr_key_id"],
        demo_issuer_key=Ed25519PrivateKey.from_private_bytes(bytes.fromhex(doc["demo_issuer_key"])),
    )


def bridge_document(secrets: Secrets) -> dict:
    public = secrets.qr_signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"qr_public_keys": {secrets.qr_key_id: public.hex()}}


def resident_document(secrets: Secrets) -> dict:
    def raw(key: Ed25519PrivateKey) -> str:
        return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption()).hex()
    return {"id_hash_key": secrets.id_hash_key.hex(), "qr_signing_key": raw(secrets.qr_signing_key),
            "qr_key_id": secrets.qr_key_id, "demo_issuer_key": raw(secrets.demo_issuer_key)}


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
    os.replace(tmp, path)


def split(master: Path | None = None, bridge: Path | None = None, residents: Path | None = None) -> dict[str, Path]:
    """Write each service's key file from the platform's (creating that one on first run). Idempotent."""
    secrets = load_secrets(master or settings().key_file)
    paths = {"bridge": bridge or bridge_settings().key_file, "residents": residents or resident_settings().key_file}
    _write(paths["bridge"], bridge_document(secrets))
    _write(paths["residents"], resident_document(secrets))
    _resident_secrets.cache_clear()
    return paths
