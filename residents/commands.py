"""`gridpulse residents-api` and `gridpulse app-token`: the resident services' commands."""
from __future__ import annotations

import argparse
import datetime as dt
import uuid


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core import logs
    from core.config import resident_settings
    from core.metrics import enable_multiprocess
    from core.tls import uvicorn_tls

    logs.setup("residents-api")
    rcfg = resident_settings()
    tls = uvicorn_tls(rcfg.tls_cert, rcfg.tls_key, "GRIDPULSE_RESIDENTS_TLS")
    if args.workers > 1:
        enable_multiprocess(f"residents-{args.port}")  # one /metrics adds up every worker
    uvicorn.run("residents.serving:observed_api", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_config=None, log_level=logs.uvicorn_level(), **tls)
    return 0


def _app_token(args: argparse.Namespace) -> int:
    """A demo token, as the city app would hold after the resident signs in (demo issuer only)."""
    from sqlalchemy import select

    from blockdata.db import transaction
    from blockdata.models import Person
    from residents.app_tokens import mint
    from core.config import resident_settings

    if resident_settings().issuer_public_key is not None:
        print("gridpulse app-token: an external issuer is configured (GRIDPULSE_APP_ISSUER_PUBLIC_KEY); "
              "its tokens come from the city app, not from here")
        return 2
    with transaction() as session:
        pid = session.scalar(select(Person.pid).where(Person.id == args.person))
    if pid is None:
        print(f"gridpulse app-token: no person {args.person}")
        return 2
    print(mint(uuid.UUID(str(pid)), lifetime=dt.timedelta(minutes=args.minutes)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from core.config import resident_settings

    p = sub.add_parser("residents-api", help="serve the resident services API for the city app (OpenAPI at /docs)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=resident_settings().port)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (gridpulse serve: GRIDPULSE_API_WORKERS)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("app-token", help="mint a demo city-app token for a person (demo issuer only)")
    p.add_argument("person", type=int, help="person id")
    p.add_argument("--minutes", type=int, default=30, help="lifetime (at most GRIDPULSE_APP_TOKEN_MAX_AGE_S)")
    p.set_defaults(func=_app_token)
