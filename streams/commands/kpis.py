"""``ccpulse kpis``: the KPI registry (processors/kpis.py) as JSON or a table, and the summary
table of docs/kpis.md rewritten from it (``--write-docs docs/kpis.md``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "kpis", help="list every KPI: name, title, unit, direction, definition"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON array")
    parser.add_argument(
        "--write-docs",
        metavar="FILE",
        help="rewrite the generated table of FILE (docs/kpis.md) between its markers",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import msgspec

    from processors.kpis import KPIS, summary_table, with_summary_table

    if args.write_docs:
        path = Path(args.write_docs)
        try:
            path.write_text(with_summary_table(path.read_text(encoding="utf-8")), encoding="utf-8")
        except (OSError, ValueError) as exc:
            print(f"ccpulse kpis: {path}: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.json:
        sys.stdout.write(msgspec.json.encode(KPIS).decode() + "\n")
    else:
        sys.stdout.write(summary_table())
    return 0
