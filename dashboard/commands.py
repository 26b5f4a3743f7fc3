"""`gridpulse report weekly`: the dashboard stage's command (the weekly report of the 统计 page, as files)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _weekly(args: argparse.Namespace) -> int:
    from blockdata.cli_actor import prompted_viewer
    from dashboard.report import write_weekly

    viewer = prompted_viewer(args.user, args.password_stdin, "report weekly")
    paths = write_weekly(viewer, args.place, args.week, Path(args.out), reason=args.reason)
    print(json.dumps({"files": [str(p) for p in paths]}, ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="reports of the indicator set (docs/INDICATORS.md)")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    p = report_sub.add_parser("weekly", help="a place's week as an .xlsx workbook and a printable PDF, watermarked and audited")
    p.add_argument("--place", required=True, help="a street or community code (12 digits), a grid code (15) or a compound code")
    p.add_argument("--week", required=True, help="the ISO week, e.g. 2026-W49 (Monday to Sunday, local time)")
    p.add_argument("--user", default="system:report",
                   help="the account the report is for: its jurisdiction, and its role's groups as on the 统计 page "
                        "(police: population and flows only); asks for its password (default: system:report, all groups)")
    p.add_argument("--password-stdin", action="store_true", help="read the account's password from the first line of stdin")
    p.add_argument("--out", default=".", help="the folder the two files are written to (default: here)")
    p.add_argument("--reason", default="周报", help="why it is made (in the watermark and the audit log)")
    p.set_defaults(func=_weekly)
