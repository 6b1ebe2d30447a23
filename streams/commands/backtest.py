"""``ccpulse backtest``: how would these alert rules (and these candidate thresholds) have paged
on past traffic? Replays a history file through the KPI engine and the alert state machine."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

__all__ = ["ProgressBar", "register", "render_table", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "backtest",
        help="replay history through the alert rules and score them (pages, flaps, incidents)",
        description=__doc__,
    )
    parser.add_argument("--input", required=True, metavar="HISTORY", help="history file")
    parser.add_argument(
        "--format",
        default="ccpulse-jsonl",
        help="ccpulse-jsonl (default), asterisk-queue-log, twilio-taskrouter, zendesk, jira",
    )
    parser.add_argument(
        "--rules",
        metavar="FILE",
        help="YAML: a list of rules, {rules: [...]}, or a ccpulse config (default: the "
        "configuration's rules, i.e. the default rules)",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="RULE.PARAM=V1,V2",
        help="candidate values, e.g. 'abandon_rate.fire=0.08,0.10,0.12' (RULE is a rule name or "
        "a KPI; repeat or join with ';' to vary several parameters)",
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="RULE", help="score only these rules"
    )
    parser.add_argument("--incidents", metavar="FILE", help="YAML/JSON of labelled incidents")
    parser.add_argument(
        "--step", default="30s", help="evaluate the rules every this much event time (30s)"
    )
    parser.add_argument(
        "--flap-window", default="15m", help="a page this soon after a resolve is a flap (15m)"
    )
    parser.add_argument(
        "--grace",
        default="0s",
        help="a page this long after an incident's end still counts for it (0s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--chart", metavar="PNG", help="write a chart of one rule's KPI")
    parser.add_argument(
        "--chart-rule", metavar="RULE", help="the rule to chart (default: the first gridded one)"
    )
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", action="store_true", default=None, help="force progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(func=run)


class ProgressBar:
    """``backtest [##########----------]  50%  12000/24000 events`` on stderr, redrawn in place
    at most once per percent; a plain line per 10 % when stderr is not a terminal."""

    def __init__(self, stream: TextIO, label: str = "backtest", width: int = 30) -> None:
        self.stream, self.label, self.width = stream, label, width
        self.tty = stream.isatty()
        self._shown = -1
        self._started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        percent = 100 if total <= 0 else done * 100 // total
        every = 1 if self.tty else 10
        if percent // every == self._shown // every and percent != 100:
            return
        if percent == self._shown:
            return
        self._shown = percent
        filled = self.width * percent // 100
        elapsed = time.monotonic() - self._started
        text = (
            f"{self.label} [{'#' * filled}{'-' * (self.width - filled)}] {percent:3d}%  "
            f"{done}/{total} events  {elapsed:.0f} s"
        )
        if self.tty:
            self.stream.write("\r" + text + ("\n" if percent == 100 else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from processors.alert_rules import RuleError, validate_rules
    from processors.backtest_scoring import expand_grid, parse_grid
    from streams.config import ConfigError, config_from_env
    from streams.offline.backtest import load_incidents, load_rules, run_backtest
    from streams.sources import FORMATS, ParseProblem, reader_for

    if args.format not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        print(
            f"ccpulse backtest: unknown --format {args.format!r}; one of: {known}", file=sys.stderr
        )
        return 2
    try:
        config = config_from_env(args.config)
        rules = load_rules(args.rules) if args.rules else config.alerts.effective_rules()
        if args.only:
            unknown = [name for name in args.only if name not in {r.name for r in rules}]
            if unknown:
                raise ValueError(f"--only: no rule {unknown[0]!r}")
            rules = [r for r in rules if r.name in args.only]
        candidates = expand_grid(rules, parse_grid(args.grid))
        for candidate in candidates:
            validate_rules([candidate.rule])
        step, flap, grace = (
            _seconds(args.step, "--step"),
            _seconds(args.flap_window, "--flap-window"),
            _seconds(args.grace, "--grace"),
        )
        incidents = load_incidents(args.incidents) if args.incidents else []
    except RuleError as exc:
        print(f"ccpulse backtest: {exc}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError, OSError) as exc:
        print(f"ccpulse backtest: {exc}", file=sys.stderr)
        return 2
    reader = reader_for(args.format, config.sources)
    events: list[Any] = []
    try:
        for item in reader(args.input):
            if isinstance(item, ParseProblem):
                print(f"ccpulse backtest: {args.input}:{item}", file=sys.stderr)
            else:
                events.append(item)
    except OSError as exc:
        print(f"ccpulse backtest: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 2
    show = sys.stderr.isatty() if args.progress is None else args.progress
    result = run_backtest(
        events,
        config.engine,
        candidates,
        step=step,
        incidents=incidents,
        flap_window=flap,
        grace=grace,
        progress=ProgressBar(sys.stderr) if show else None,
    )
    document = result.document()
    if args.chart:
        from streams.offline.backtest_chart import write_chart

        chart_rule = args.chart_rule or next(
            (c.base for c in candidates if c.params), candidates[0].base if candidates else None
        )
        if chart_rule is None:
            print("ccpulse backtest: no rule to chart", file=sys.stderr)
            return 2
        try:
            write_chart(result, chart_rule, args.chart)
        except ValueError as exc:
            print(f"ccpulse backtest: {exc}", file=sys.stderr)
            return 2
        document["chart"] = {"path": args.chart, "rule": chart_rule}
    if args.json:
        sys.stdout.write(json.dumps(document) + "\n")
    else:
        print(render_table(document))
        if args.chart:
            print(f"chart of {document['chart']['rule']}: {args.chart}")
    return 0


def _seconds(text: str, flag: str) -> int:
    from processors.settings import parse_window

    if text.isdigit():
        return int(text)
    if text in ("0s", "0"):
        return 0
    try:
        length = parse_window(text)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None
    if length is None:
        raise ValueError(f"{flag}: give a duration such as 30s or 15m")
    return length


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def render_table(document: dict[str, Any]) -> str:
    with_incidents = document["incidents"] > 0
    header = ["rule", "candidate", "pages", "firing", "flaps"]
    if with_incidents:
        header += ["detected", "missed", "false pages", "mean delay"]
    rows: list[list[str]] = []
    for r in document["results"]:
        row = [
            r["rule"],
            r["label"],
            str(r["pages"]),
            _duration(r["firing_seconds"]),
            str(r["flaps"]),
        ]
        if with_incidents:
            row += [
                f"{r['detected']}/{r['detected'] + r['missed']}",
                str(r["missed"]),
                str(r["false_pages"]),
                _duration(r["mean_detection_delay_seconds"]),
            ]
        rows.append(row)
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = [
        f"Backtest {document['start']} .. {document['end']}: {document['events']} events, "
        f"rules evaluated every {document['step_seconds']} s"
        + (f", {document['incidents']} labelled incidents" if with_incidents else "")
    ]
    for line in [header, *rows]:
        lines.append(
            "  ".join(
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
    return "\n".join(lines)
