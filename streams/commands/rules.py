"""``ccpulse rules export``: the configured alert rules as a Prometheus alerting-rules file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("rules", help="export the alert rules for Prometheus")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write a Prometheus alerting-rules file (no hysteresis or cooldown: see comments)",
    )
    export.add_argument("--output", "-o", default="-", help="file to write, or - for stdout")
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from streams.alerting.prom_rules import export_rules
    from streams.config import config_from_env

    config = config_from_env(args.config)
    source = args.config or "the built-in defaults"
    text = export_rules(config.alerts.effective_rules(), source=source)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0
