"""`gridpulse import KIND FILE`, `gridpulse export LAYER FILE` and `gridpulse review`: the address base's way
in and out, and its review queue."""
from __future__ import annotations

import argparse
import json
import sys

from core.errors import InvalidInput, NotFound


def _import(args: argparse.Namespace) -> int:
    from intake.importers import ImportRefused, Options, run_import

    options = Options(default_floors=args.default_floors, layer=args.layer, match_threshold=args.match_threshold)
    try:
        report = run_import(args.kind, args.file, crs=args.crs, dry_run=args.dry_run, report_path=args.report,
                            options=options)
    except ImportRefused as exc:
        print(exc.report.headline(), file=sys.stderr)
        print(exc.report.to_csv() if args.report is None else f"validation report: {args.report}", file=sys.stderr)
        print(f"gridpulse import: {exc}", file=sys.stderr)
        return 2
    print(report.headline())
    if args.report is None and report.problems:
        print(report.to_csv(), end="")
    print(json.dumps(report.summary, ensure_ascii=False))
    return 0


def _viewer(args: argparse.Namespace, command: str):  # noqa: ANN202 - a core.viewer.Viewer
    """The account the command acts as, with its password (blockdata/cli_actor.py), or system:<name>."""
    import getpass
    import sys

    from blockdata.cli_actor import cli_viewer

    password = None
    if not args.user.startswith("system"):
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"password of {args.user}: ")
    return cli_viewer(args.user, password, command)


def _export(args: argparse.Namespace) -> int:
    from blockdata.db import transaction
    from intake.exports import export_layer

    viewer = _viewer(args, "export")
    with transaction() as session:
        result = export_layer(session, viewer, args.layer, args.file, fmt=args.format, reason=args.reason)
    print(f"{result.rows} rows of {args.layer} → {result.path} ({result.watermark})")
    return 0


def _review(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from intake.addresses.review import decide, review_queue
    from blockdata.db import transaction
    from blockdata.models import Address, AddressKind, ReviewStatus

    if args.action == "requeue":
        from intake.addresses.review import requeue_unlinked

        with transaction() as session:
            r = requeue_unlinked(session, threshold=args.match_threshold)
        print(f"{r.linked} linked, {r.queued} queued for review; of the pending reviews {r.resolved} now linked "
              f"(closed by system:requeue), {r.improved} with a better candidate")
        return 0
    if args.action == "list":
        status = None if args.status == "all" else ReviewStatus(args.status)
        with transaction() as session:
            items = review_queue(session, status=status, limit=args.limit)
        print("review_id\tstatus\tscore\taddress\ttext\tcandidate\tcandidate_text\tdecided_by")
        for i in items:
            print(f"{i.review_id}\t{i.status}\t{i.score:.2f}\t{i.code}\t{i.full_text}\t{i.candidate_code or ''}\t"
                  f"{i.candidate_text or ''}\t{i.decided_by or ''}")
        return 0
    if args.review_id is None:
        raise NotFound("which review? give its id (gridpulse review list)", record="review")
    if not args.user:
        raise InvalidInput("who decides? --user ACCOUNT (its password is asked for) or --user system:<name>", record="review")
    viewer = _viewer(args, "review")
    with transaction() as session:
        chosen = None
        if args.to:
            chosen = session.scalar(select(Address.id).where(Address.code == args.to, Address.kind == AddressKind.standard))
            if chosen is None:
                raise NotFound(f"no standard address with code {args.to}", record="--to")
        review = decide(session, viewer, args.review_id, accept=args.action == "accept", chosen_id=chosen)
        print(f"review {review.id}: {review.status.value} by {review.decided_by}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from intake.exports import FORMATS, LAYERS
    from intake.importers import KINDS
    from intake import dwelling_commands, grid_commands

    dwelling_commands.register(sub)
    grid_commands.register(sub)

    p = sub.add_parser("import", help="validate and import regions, grids, buildings, addresses, people … (all or nothing)")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("file", help="GeoJSON, zipped Shapefile or GeoPackage (places); CSV or xlsx (tables)")
    p.add_argument("--crs", help="source coordinates: wgs84, cgcs2000, gcj02 (AMap/Tencent), bd09 (Baidu) or EPSG:nnnn "
                                 "(default: the file's own CRS; GeoJSON cannot tell GCJ-02 from WGS84, so say so)")
    p.add_argument("--dry-run", action="store_true", help="validate only: write nothing")
    p.add_argument("--report", help="write the validation report to this CSV file")
    p.add_argument("--default-floors", type=int, help="floors for buildings whose source gives neither floors nor height")
    p.add_argument("--layer", help="layer of a GeoPackage holding several")
    p.add_argument("--match-threshold", type=float, default=0.85,
                   help="address matches scoring at least this are linked; lower ones wait for review")
    p.set_defaults(func=_import)

    p = sub.add_parser("export", help="export a layer as GeoJSON, CSV or xlsx, masked for the user and audited")
    p.add_argument("layer", choices=tuple(LAYERS))
    p.add_argument("file")
    p.add_argument("--format", choices=FORMATS, help="default: from the file's suffix")
    p.add_argument("--user", required=True, help="the account exporting (its role and jurisdiction apply; its password "
                   "is asked for), or a named system actor system:<name>")
    p.add_argument("--password-stdin", action="store_true", help="read the account's password from the first line of stdin")
    p.add_argument("--reason", help="why (required for people; written to the audit log and the watermark)")
    p.set_defaults(func=_export)

    p = sub.add_parser("review", help="the address review queue: list it, accept or reject a low-score match")
    p.add_argument("action", choices=("list", "accept", "reject", "requeue"),
                   help="requeue: match unlinked non-standard addresses again (by text and location), pending reviews too")
    p.add_argument("review_id", nargs="?", type=int)
    p.add_argument("--to", help="accept: link to this standard address code instead of the candidate")
    p.add_argument("--user", help="accept/reject: the account deciding (admin, command centre or 网格长; its password "
                   "is asked for), or a named system actor system:<name>")
    p.add_argument("--password-stdin", action="store_true", help="read the account's password from the first line of stdin")
    p.add_argument("--status", choices=("pending", "accepted", "rejected", "all"), default="pending", help="list: which")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--match-threshold", type=float, default=0.85, help="requeue: link at or above this score")
    p.set_defaults(func=_review)
