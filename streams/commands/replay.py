"""``ccpulse replay FILE``: KPIs at an instant, computed from a file of events, no broker."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from processors.kpis import kpi
from processors.settings import SL_VARIANTS
from streams.config import ConfigError, config_from_env


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "replay", help="compute KPIs at an instant from a file of events (no broker needed)"
    )
    parser.add_argument("file", help="input file ('-' for standard input)")
    parser.add_argument(
        "--format",
        default="ccpulse-jsonl",
        help="ccpulse-jsonl (default), asterisk-queue-log, or one stored webhook payload per "
        "line: twilio-taskrouter, zendesk, jira (docs/sources.md)",
    )
    parser.add_argument(
        "--at", required=True, help="ISO 8601 instant with offset, e.g. 2026-11-22T10:00:00Z"
    )
    parser.add_argument(
        "--window", default="15m", help="5m, 15m, 1h, 24h, today, or any NNs/NNm/NNh"
    )
    parser.add_argument("--sl-threshold", type=float, metavar="SECONDS")
    parser.add_argument("--sl-variant", choices=SL_VARIANTS)
    parser.add_argument("--short-abandon", type=float, metavar="SECONDS")
    parser.add_argument("--tz", metavar="ZONE", help="time zone for --window today")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streams.offline.replay import parse_at, replay_events, replay_settings
    from streams.sources import FORMATS, reader_for

    if args.format not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        print(f"ccpulse replay: unknown --format {args.format!r}; one of: {known}", file=sys.stderr)
        return 2
    try:
        config = config_from_env(args.config)
        at = parse_at(args.at)
        settings = replay_settings(
            config.engine,
            args.window,
            sl_threshold=args.sl_threshold,
            sl_variant=args.sl_variant,
            short_abandon=args.short_abandon,
            timezone=args.tz,
        )
    except (ConfigError, ValueError) as exc:
        print(f"ccpulse replay: {exc}", file=sys.stderr)
        return 2
    path = "/dev/stdin" if args.file == "-" else args.file
    try:
        reader = reader_for(args.format, config.sources)
        result = replay_events(reader(path), settings, at, args.window)
    except OSError as exc:
        print(f"ccpulse replay: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    for problem in result.problems:
        print(f"ccpulse replay: {args.file}:{problem}", file=sys.stderr)
    document = result.document()
    if args.json:
        sys.stdout.write(msgspec.json.encode(document).decode() + "\n")
    else:
        print(render_table(document))
    return 0


_COLUMNS = (
    "entered",
    "blocked",
    "answered",
    "abandoned",
    "short_abandoned",
    "other_exits",
    "abandon_rate",
    "blocked_rate",
    "asa_seconds",
    "service_level",
    "ivr_containment_rate",
    "callbacks_requested",
    "flow_outs",
    "transfer_rate",
    "calls_waiting",
    "oldest_wait_seconds",
    "callbacks_pending",
    "callback_success_rate",
    "backlog",
    "resolution_sla_breached",
)
"""The KPIs of the readable table (``--json`` prints them all); headings and units from the
KPI registry (processors/kpis.py)."""

_UNIT_SUFFIX = {"rate": " %", "seconds": " s"}


def _heading(name: str) -> str:
    entry = kpi(name)
    return entry.label + _UNIT_SUFFIX.get(entry.unit, "")


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if kpi(name).unit == "rate":
        return f"{100 * value:.1f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render_table(document: dict[str, Any]) -> str:
    header = ["queue", *(_heading(name) for name in _COLUMNS)]
    rows = []
    for queue, kpis in document["queues"].items():
        rows.append([queue, *(_cell(name, kpis[name]) for name in _COLUMNS)])
        # A queue of several channels: a row per channel, its contact KPIs (docs/kpis.md#channels).
        for channel, figures in kpis.get("channels", {}).items():
            cells = (_cell(name, figures[name]) if name in figures else "" for name in _COLUMNS)
            rows.append([f"  {channel}", *cells])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"KPIs at {document['at']} over {document['window']}"]
    for row in [header, *rows]:
        lines.append(
            "  ".join(
                str(c).rjust(w) if i else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)
