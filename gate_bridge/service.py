"""Assemble one compound's bridge: snapshot, publisher with outbox, replay guard, public keys, policy. A bridge
holds only its own key file (the QR public keys): never the QR signing key, the session secret or the ID-hash key."""
from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.config import Settings, bridge_settings, settings
from core.keys import load_bridge_keys
from core.redis_client import connect
from gate_bridge.access_cache import AccessCache
from gate_bridge.policy import GatePolicy
from gate_bridge.publisher import EventPublisher
from gate_bridge.qr_batcher import QrBatcher
from gate_bridge.replay import ReplayGuard


def build_policy(compound_id: int, cfg: Settings | None = None, *, outbox_path: Path | None = None,
                 refresh_s: float | None = None, batch_qr: bool = False,
                 public_keys: dict[str, Ed25519PublicKey] | None = None) -> GatePolicy:
    """``batch_qr``: QR scans go through worker threads in batches (the bridge service; see
    qr_batcher.py); without it each scan is decided in its caller's thread. ``public_keys``: the QR
    public keys by key id; by default the bridge's own key file (core/keys.py), never the platform's."""
    cfg = cfg or settings()
    if public_keys is None:
        public_keys = load_bridge_keys().qr_public_keys
    client = connect(cfg)
    cache = AccessCache(cfg.psycopg_dsn, compound_id, refresh_s=refresh_s)
    publisher = EventPublisher(cfg, client=client,
                               outbox_path=outbox_path or bridge_settings().outbox_dir / f"outbox-compound-{compound_id}.sqlite3")
    policy = GatePolicy(cache, publisher, ReplayGuard(), public_keys, cfg.psycopg_dsn)
    if batch_qr:
        policy.qr_batcher = QrBatcher(policy.decide_qr)
    return policy
