"""`gridpulse bridge` and `gridpulse gate-key`: the gate stage's commands."""
from __future__ import annotations

import argparse


def _bridge(args: argparse.Namespace) -> int:
    import uvicorn

    from core import logs
    from core.asgi_observe import Observed
    from core.config import bridge_settings
    from core.health import default_probes
    from core.tls import uvicorn_tls
    from credentials.face_pipeline import shared_pipeline
    from gate_bridge import metrics
    from gate_bridge.api import create_api
    from gate_bridge.service import build_policy

    logs.setup(f"bridge-{args.compound}")
    tls = uvicorn_tls(bridge_settings().tls_cert, bridge_settings().tls_key, "GRIDPULSE_BRIDGE_TLS")
    policy = build_policy(args.compound, batch_qr=True)
    policy.cache.start()
    # /metrics and /healthz in front of everything (also the QR fast lane). One process per bridge: its
    # replay cache and outbox are its own (docs/DEPLOY.md); the batcher already uses every core.
    app = Observed(create_api(policy, None if args.no_face_models else shared_pipeline()), "bridge", default_probes(),
                   collectors=[metrics.collector(policy)], on_response=metrics.decision_hook(args.compound),
                   body_routes=metrics.DECISION_ROUTES)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, log_level=logs.uvicorn_level(), **tls)
    return 0


def _gate_key(args: argparse.Namespace) -> int:
    import secrets

    from gate_bridge.access_cache import key_hash
    from blockdata.db import transaction
    from sqlalchemy import text

    key = secrets.token_urlsafe(24)
    with transaction() as session:
        updated = session.execute(text("UPDATE gate SET key_hash = :h WHERE code = :c RETURNING id"),
                                  {"h": key_hash(key), "c": args.gate}).first()
    if updated is None:
        print(f"gridpulse gate-key: no gate with code {args.gate}")
        return 2
    print(f"gate {args.gate} (id {updated[0]}): key {key}  (shown once; only its hash is stored)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bridge", help="serve one compound's gate bridge (QR, face photo and face template decisions; events)")
    p.add_argument("--compound", type=int, required=True, help="compound id")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8060)
    p.add_argument("--no-face-models", action="store_true",
                   help="do not load the face models (photos get 503; templates, QR, card and the guard work)")
    p.set_defaults(func=_bridge)

    p = sub.add_parser("gate-key", help="issue a new key for a gate device (replaces the old one)")
    p.add_argument("gate", help="gate code, e.g. C0001-G1")
    p.set_defaults(func=_gate_key)
