"""`gridpulse city attach|detach|refresh|list|grant-reader`: the district servers the city database reads through postgres_fdw.

The district role's password comes from GRIDPULSE_DISTRICT_PASSWORD (core/config.py), never from an argument
(it would be in the shell's history and the process list). Changes are audited as ``--as ADMIN`` or, by default,
as ``cli:<login>``.
"""
from __future__ import annotations

import argparse
import json
import time


def _attach(args: argparse.Namespace) -> int:
    from blockdata.account_commands import actor
    from blockdata.db import transaction
    from city.servers import attach

    who = actor(args.as_user)
    with transaction() as session:
        d = attach(session, who, code=args.code, name=args.name, host=args.host, port=args.port, dbname=args.dbname)
    print(f"attached district {d.code} {d.name}: {d.host}:{d.port}/{d.dbname} as schema {d.schema}")
    return 0


def _detach(args: argparse.Namespace) -> int:
    from blockdata.account_commands import actor
    from blockdata.db import transaction
    from city.servers import detach

    who = actor(args.as_user)
    with transaction() as session:
        d = detach(session, who, args.code)
    print(f"detached district {d.code} {d.name} (its own database is untouched)")
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from blockdata.account_commands import actor
    from blockdata.db import transaction
    from city.servers import refresh

    who = actor(args.as_user)
    with transaction() as session:
        imported = refresh(session, who, args.code)
    print(f"district {args.code}: imported {', '.join(imported)}" if imported else
          f"district {args.code}: nothing to import (every table the city reads is there)")
    return 0


def _list(args: argparse.Namespace) -> int:
    """Each district; with --check, whether it answers now and how fast (one query through its server)."""
    from sqlalchemy import text

    from blockdata.db import transaction
    from city.federated import on_each
    from city.servers import districts

    with transaction() as session:
        found = districts(session)
        timings: dict[str, float] = {}
        down: tuple = ()
        if args.check:
            def probe(s, d):  # noqa: ANN001, ANN202 - a session and a District
                t0 = time.perf_counter()
                s.execute(text(f"SELECT count(*) FROM {d.schema}.grid")).scalar_one()
                return round((time.perf_counter() - t0) * 1000, 1)
            timings, down = on_each(session, found, probe)
    for d in found:
        row = {"code": d.code, "name": d.name, "host": d.host, "port": d.port, "dbname": d.dbname, "schema": d.schema}
        if args.check:
            row["reachable"] = d.code in timings
            row["ms"] = timings.get(d.code)
        print(json.dumps(row, ensure_ascii=False))
    return 1 if args.check and down else 0


def _grant_reader(args: argparse.Namespace) -> int:
    from blockdata.db import transaction
    from city.servers import FEDERATED_TABLES, grant_reader

    with transaction() as session:
        role = grant_reader(session, args.role)
    print(f"{role} may read {', '.join(FEDERATED_TABLES)} of this database (and nothing else)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    city = sub.add_parser("city", help="the district servers the city reads through postgres_fdw (docs/SCALING.md)")
    csub = city.add_subparsers(dest="city_command", metavar="ACTION", required=True)
    a = csub.add_parser("attach", help="CREATE SERVER, USER MAPPING (GRIDPULSE_DISTRICT_USER/PASSWORD) and "
                                       "IMPORT FOREIGN SCHEMA for a district; all or nothing")
    a.add_argument("code", help="the district's 6-digit county code (320102) or region code (320102000000)")
    a.add_argument("--name", required=True, help="the district's name, e.g. 玄武区")
    a.add_argument("--host", required=True)
    a.add_argument("--port", type=int, default=5432)
    a.add_argument("--dbname", default="gridpulse")
    a.add_argument("--as", dest="as_user", metavar="ADMIN", help="the admin account the audit log names")
    a.set_defaults(func=_attach)
    d = csub.add_parser("detach", help="drop a district's foreign schema, server and user mapping")
    d.add_argument("code")
    d.add_argument("--as", dest="as_user", metavar="ADMIN", help="the admin account the audit log names")
    d.set_defaults(func=_detach)
    r = csub.add_parser("refresh", help="import what an attached district lacks after it was migrated to a newer "
                                        "release (e.g. city_community_live, migration 0016)")
    r.add_argument("code")
    r.add_argument("--as", dest="as_user", metavar="ADMIN", help="the admin account the audit log names")
    r.set_defaults(func=_refresh)
    ls = csub.add_parser("list", help="the attached districts, one JSON line each")
    ls.add_argument("--check", action="store_true", help="ask each district now; exit 1 when one does not answer")
    ls.set_defaults(func=_list)
    g = csub.add_parser("grant-reader", help="on a DISTRICT's database (GRIDPULSE_DATABASE_URL): let the city's role "
                                             "read the federated tables only")
    g.add_argument("--role", help="default GRIDPULSE_DISTRICT_USER (gridpulse_city)")
    g.set_defaults(func=_grant_reader)
