"""The one console command, ``gridpulse``: each stage registers its own subcommands.

The CLI sits above every stage (like app.py), so it may import all of them; the stages
never import it.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from core.errors import GridPulseError

Registrar = Callable[[argparse._SubParsersAction], None]


# Each stage's commands, from the base up; "demo" last (the synthetic street and the simulator).
STAGE_COMMANDS = ("blockdata.commands", "intake.commands", "gate_bridge.commands", "ingest.commands",
                  "analytics.commands", "city.commands", "residents.commands", "dashboard.commands", "ops.commands", "demo.commands")


def _registrars() -> list[Registrar]:
    registrars: list[Registrar] = []
    for module in STAGE_COMMANDS:
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that stage has no commands yet
            raise
        registrars.append(mod.register)
    return registrars


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridpulse",
        description="GridPulse: the one map (一张图) of a street office's actual population.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GridPulseError as exc:
        print(f"gridpulse {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
