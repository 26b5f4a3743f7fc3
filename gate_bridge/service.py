"""Assemble one compound's bridge: snapshot, publisher with outbox, replay guard, public keys, policy."""
from __future__ import annotations

from pathlib import Path

from core.config import Settings, load_secrets, settings
from core.redis_client import connect
from gate_bridge.access_cache import AccessCache
from gate_bridge.policy import GatePolicy
from gate_bridge.publisher import EventPublisher
from gate_bridge.qr_batcher import QrBatcher
from gate_bridge.replay import ReplayGuard


def build_policy(compound_id: int, cfg: Settings | None = None, *, outbox_path: Path | None = None,
                 refresh_s: float | None = None, batch_qr: bool = False) -> GatePolicy:
    """``batch_qr``: QR scans go through worker threads in batches (the bridge service; see
    qr_batcher.py); without it each scan is decided in its caller's thread."""
    cfg = cfg or settings()
    secrets = load_secrets()
    client = connect(cfg)
    cache = AccessCache(cfg.psycopg_dsn, compound_id, refresh_s=refresh_s)
    publisher = EventPublisher(cfg, client=client,
                               outbox_path=outbox_path or cfg.key_file.parent / f"outbox-compound-{compound_id}.sqlite3")
    public_keys = {secrets.qr_key_id: secrets.qr_signing_key.public_key()}
    policy = GatePolicy(cache, publisher, ReplayGuard(), public_keys, cfg.psycopg_dsn)
    if batch_qr:
        policy.qr_batcher = QrBatcher(policy.decide_qr)
    return policy
