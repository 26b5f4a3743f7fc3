"""`gridpulse dwellings generate` and `gridpulse addresses generate`: dwellings from a building's layout (or a
CSV), and the standard address base from the hierarchy, so that imported addresses have candidates."""
from __future__ import annotations

import argparse
import json

from core.errors import InvalidInput


def _scope(args: argparse.Namespace) -> dict[str, object]:
    return {"building_codes": args.building, "compound_codes": args.compound, "area_code": args.within}


def _pending_hint(session) -> str:  # noqa: ANN001 - a Session
    from sqlalchemy import func, select

    from blockdata.models import AddressReview, ReviewStatus

    n = session.scalar(select(func.count()).select_from(AddressReview).where(AddressReview.status == ReviewStatus.pending))
    return f"; {n} addresses wait for review: gridpulse review requeue matches them against these" if n else ""


def _csv_buildings(path: str) -> list[str]:
    from intake.importers.readers import first, read_table

    return sorted({str(c) for r in read_table(path) if (c := first(r.values, "building_code", "楼栋编码"))})


def _generate_dwellings(args: argparse.Namespace) -> int:
    from blockdata.db import session_factory
    from intake import dwellings
    from intake.addresses import standard

    if args.csv:
        return _from_csv(args)
    layout = dwellings.Layout(units=args.units, per_floor=args.per_floor, floors=args.floors,
                              areas_m2=tuple(args.area_m2 or ()))
    layout.check()
    with session_factory()() as session, session.begin() as tx:
        buildings = dwellings.buildings_in_scope(session, **_scope(args))
        result = dwellings.generate(session, buildings, layout)
        addresses = standard.generate(session, building_codes=[b.code for b in buildings]) if not args.no_addresses else None
        hint = _pending_hint(session)
        if args.dry_run:
            tx.rollback()
    verb = "would write" if args.dry_run else "wrote"
    print(f"{verb} {result.dwellings} dwellings in {result.buildings} buildings"
          f"{f' ({result.estimated_areas} with areas estimated from the footprint)' if result.estimated_areas else ''}"
          f"{f'; {len(result.skipped_existing)} buildings already had dwellings and were left as they are' if result.skipped_existing else ''}"
          f"{hint if not args.dry_run else ''}")
    print(json.dumps({"dwellings": result.summary(), "addresses": addresses.summary() if addresses else None,
                      "dry_run": args.dry_run}, ensure_ascii=False))
    return 0


def _from_csv(args: argparse.Namespace) -> int:
    from blockdata.db import transaction
    from intake.addresses import standard
    from intake.importers import ImportRefused, run_import

    if args.units or args.floors or args.area_m2 or args.building or args.compound or args.within:
        raise InvalidInput("--csv takes the dwellings from the file: leave out the layout and scope options",
                           record="--csv")
    try:
        report = run_import("dwellings", args.csv, dry_run=args.dry_run)
    except ImportRefused as exc:
        print(exc.report.headline())
        print(exc.report.to_csv(), end="")
        raise InvalidInput("the CSV was refused as a whole (rows above): fix them and run again", record=args.csv) from None
    print(report.headline())
    addresses = None
    if not args.dry_run and not args.no_addresses:
        with transaction() as session:
            addresses = standard.generate(session, building_codes=_csv_buildings(args.csv))
            print(f"standard addresses{_pending_hint(session)}")
    print(json.dumps({"dwellings": report.summary, "addresses": addresses.summary() if addresses else None},
                     ensure_ascii=False))
    return 0


def _generate_addresses(args: argparse.Namespace) -> int:
    from blockdata.db import transaction
    from intake.addresses import standard

    with transaction() as session:
        prefix = None
        if args.within:
            from core.viewer import code_prefix

            prefix = code_prefix(args.within)[:12]
        result = standard.generate(session, compound_codes=args.compound, building_codes=args.building,
                                   community_prefix=prefix)
        hint = _pending_hint(session)
    print(f"standard addresses: {sum(result.created.values())} new, {sum(result.updated.values())} updated{hint}")
    if result.numbered_by_position:
        print(f"{result.numbered_by_position} buildings have no number in their name and were numbered by position "
              "(south to north, west to east) inside their compound: check them against the door plates")
    print(json.dumps(result.summary(), ensure_ascii=False))
    return 0


def _scope_options(q: argparse.ArgumentParser) -> None:
    q.add_argument("--building", nargs="+", metavar="CODE", help="these buildings")
    q.add_argument("--compound", nargs="+", metavar="CODE", help="the buildings of these compounds")
    q.add_argument("--in", dest="within", metavar="CODE",
                   help="the buildings in a district, street, community (12 digits) or grid (15 digits)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dwellings", help="dwellings of buildings: generate from floors × units × flats per floor, or a CSV")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = acts.add_parser("generate", help="one dwelling per unit, floor and flat of each building in scope that has none, "
                                         "and the standard addresses of the buildings, units and dwellings")
    _scope_options(q)
    q.add_argument("--units", type=int, help="units (entrances) per building (default: the building's own)")
    q.add_argument("--per-floor", type=int, default=2, help="flats per unit and floor (default 2)")
    q.add_argument("--floors", type=int, help="residential floors (default: all the building's floors)")
    q.add_argument("--area-m2", type=float, nargs="+", metavar="M2",
                   help="floor area of each flat, or one per flat on a floor (default: estimated from the footprint, "
                        "75%% of a floor split between its flats)")
    q.add_argument("--csv", help="take the dwellings from this CSV instead (columns as for gridpulse import dwellings)")
    q.add_argument("--no-addresses", action="store_true", help="do not generate the standard addresses")
    q.add_argument("--dry-run", action="store_true", help="count what would be written; write nothing")
    q.set_defaults(func=_generate_dwellings)

    p = sub.add_parser("addresses", help="the standard address base (标准地址) from the place hierarchy")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = acts.add_parser("generate", help="a standard address for every compound, building, unit and dwelling in scope "
                                         "(all when no scope); again updates them")
    _scope_options(q)
    q.set_defaults(func=_generate_addresses)
