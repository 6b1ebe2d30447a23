"""The ``ccpulse`` command line: one sub-command per module in :mod:`streams.commands`.

Each command module exposes ``register(subparsers)`` and sets ``func`` on its parser; adding a
command means adding a module and one name to :data:`COMMANDS`, nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: tuple[str, ...] = (
    "demo",
    "broker",
    "topics",
    "worker",
    "simulate",
    "replay",
    "report",
    "audit",
    "schema",
    "ingest",
    "dashboards",
    "staffing",
    "backtest",
    "alerts",
    "rules",
    "kpis",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccpulse",
        description="Real-time contact-centre KPIs from Kafka.",
    )
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="ccpulse YAML configuration (default: built-in defaults; env CCPULSE_CONFIG)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"streams.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from streams.broker.access import KafkaAccessError

    try:
        result = args.func(args)
    except KafkaAccessError as error:
        # Kafka refused the credentials or the certificate: retrying cannot help.
        print(f"ccpulse {args.command}: {error}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
