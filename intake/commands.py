"""`gridpulse import KIND FILE`, `gridpulse export LAYER FILE` and `gridpulse review`: the address base's way
in and out, and its review queue."""
from __future__ import annotations

import argparse
import json
import sys

from core.errors import GridPulseError, InvalidInput, NotFound


def _runs(args: argparse.Namespace) -> int:
    from blockdata.db import transaction
    from intake.importers.runs import list_runs

    with transaction() as session:
        runs = list_runs(session, limit=args.limit)
        print("run\twhen\tkind\tfile\tmode\tby\trows\twritten\tundone")
        for r in runs:
            undone = f"{r.undone_at:%Y-%m-%d %H:%M} by {r.undone_by}" if r.undone_at else ""
            print(f"{r.id}\t{r.created_at:%Y-%m-%d %H:%M}\t{r.kind}\t{r.source}\t{r.mode}\t{r.username}\t"
                  f"{r.counts.get('rows', '')}\t{r.counts.get('written', '')}\t{undone}")
    return 0


def _undo(args: argparse.Namespace) -> int:
    from blockdata.db import transaction
    from intake.importers.runs import undo

    if not args.file:
        raise NotFound("which run? gridpulse import undo RUN (gridpulse import runs lists them)", record="RUN")
    viewer = _viewer(args, "import undo")
    with transaction() as session:
        run = undo(session, args.file, viewer)
        deleted = ", ".join(f"{len(k)} {t}" for t, k in run.created.items()) or "nothing"
        restored = ", ".join(f"{len(r)} {t}" for t, r in run.updated.items()) or "nothing"
        print(f"import run {run.id} ({run.kind} from {run.source}) undone: deleted {deleted}; restored {restored}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from intake.importers import ImportRefused, Options, run_import

    if args.kind == "runs":
        return _runs(args)
    if args.kind == "undo":
        return _undo(args)
    if not args.file:
        raise NotFound(f"which file? gridpulse import {args.kind} FILE", record="FILE")
    viewer = _viewer(args, "import")
    if viewer.role.value != "admin":
        from core.errors import AccessDenied

        raise AccessDenied(f"{viewer.username} is a {viewer.role.value}: imports are for admins", record="--user")
    options = Options(default_floors=args.default_floors, layer=args.layer, match_threshold=args.match_threshold,
                      source=args.source, mode=args.mode, utility=args.utility)
    try:
        report = run_import(args.kind, args.file, crs=args.crs, dry_run=args.dry_run, report_path=args.report,
                            options=options, viewer=viewer)
    except ImportRefused as exc:
        print(exc.report.headline(), file=sys.stderr)
        print(exc.report.to_csv() if args.report is None else f"validation report: {args.report}", file=sys.stderr)
        print(f"gridpulse import: {exc}", file=sys.stderr)
        return 2
    except GridPulseError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file nobody foresaw: one line, never a traceback (exit 3)
        print(f"gridpulse import: cannot import {args.file} as {args.kind}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    print(report.headline())
    if args.report is None and report.problems:
        print(report.to_csv(), end="")
    print(json.dumps(report.summary, ensure_ascii=False))
    return 0


def _viewer(args: argparse.Namespace, command: str):  # noqa: ANN202 - a core.viewer.Viewer
    """The account the command acts as, with its password (blockdata/cli_actor.py), or system:<name>."""
    from blockdata.cli_actor import prompted_viewer

    return prompted_viewer(args.user, bool(getattr(args, "password_stdin", False)), command)


def _export(args: argparse.Namespace) -> int:
    from blockdata.db import transaction
    from intake.exports import export_layer

    viewer = _viewer(args, "export")
    if args.layer == "base":
        from intake.exchange import export_base

        with transaction() as session:
            base = export_base(session, viewer, args.file, reason=args.reason)
        print(f"base → {base.path}: " + ", ".join(f"{n} {k}" for k, n in base.rows.items()) + f" ({base.watermark})")
        return 0
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

    p = sub.add_parser("import", help="validate and import regions, grids, buildings, addresses, people … (all or "
                                      "nothing); list the applied runs or undo one")
    p.add_argument("kind", choices=KINDS + ("runs", "undo"),
                   help="what the file holds; 'runs' lists applied imports, 'undo RUN' takes one back")
    p.add_argument("file", nargs="?", help="GeoJSON, zipped Shapefile or GeoPackage (places); CSV or xlsx (tables); "
                                           "for undo: the run's id (or its first characters)")
    p.add_argument("--source", choices=("osm", "file"),
                   help="osm: an OpenStreetMap export (overpass or Geofabrik): only what belongs to KIND is taken; "
                        "file: never treat it as OSM (default: detected)")
    p.add_argument("--mode", choices=("insert", "upsert"), default="insert",
                   help="insert: a code already in the database is refused; upsert: it is updated (regions, "
                        "compounds, key_sites, buildings)")
    p.add_argument("--utility", choices=("water", "electricity", "gas"),
                   help="utility: which company's readings, when the file has no kind column")
    p.add_argument("--user", default="system:import",
                   help="the account importing, an admin (its password is asked for), or a named system actor "
                        "system:<name> (default system:import); recorded with the run and audited")
    p.add_argument("--password-stdin", action="store_true", help="read the account's password from the first line of stdin")
    p.add_argument("--limit", type=int, default=50, help="runs: how many, newest first")
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
    p.add_argument("layer", choices=tuple(LAYERS) + ("base",),
                   help="a layer, or base: the whole base as one zip in the exchange format for the city's data "
                        "centre (docs/IMPORT.md)")
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
