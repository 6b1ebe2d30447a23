"""``ccpulse audit``: prove the workers' numbers by replaying the retained source events.

Exit status: 0 every field equal, 1 any difference, 2 a usage or connection error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "audit",
        help="compare each worker's live KPIs with a replay of the retained source events",
    )
    parser.add_argument(
        "--worker",
        action="append",
        metavar="URL",
        help="a worker's web address, e.g. http://127.0.0.1:6066 (or 127.0.0.1:6066); once per "
        "worker "
        "(default: worker.web_host:web_port from the config)",
    )
    parser.add_argument("--bootstrap", help="override kafka.bootstrap from the config")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--all", action="store_true", help="list every compared field, not only the differences"
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=5,
        help="rounds of reading the workers to get them all at one second (default 5)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for each worker (default 10)"
    )
    parser.set_defaults(func=run)


def _error(message: str) -> int:
    print(f"ccpulse audit: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from streams.broker.settings import kafka_python_kwargs
    from streams.config import ConfigError, config_from_env
    from streams.offline.audit import WorkerError, audit, read_workers
    from streams.offline.retained import read_retained
    from streams.offline.topic_reader import TopicReadError

    try:
        config = config_from_env(args.config)
    except ConfigError as exc:
        return _error(str(exc))
    urls = args.worker or [f"{config.worker.web_host}:{config.worker.web_port}"]
    urls = [url if "://" in url else f"http://{url}" for url in urls]
    client = kafka_python_kwargs(config.kafka)
    if args.bootstrap:
        client["bootstrap_servers"] = args.bootstrap.split(",")
    topics = [config.topics.telephony, config.topics.ticketing]
    print(f"ccpulse audit: reading {', '.join(topics)}", file=sys.stderr)
    try:
        retained = read_retained(topics, client, progress=_progress)
    except TopicReadError as exc:
        return _error(str(exc))
    print(f"ccpulse audit: {retained.summary()}", file=sys.stderr)
    try:
        reports, one_second = read_workers(urls, attempts=args.attempts, timeout=args.timeout)
    except WorkerError as exc:
        return _error(str(exc))
    for report in reports:
        if not report.ready:
            print(
                f"ccpulse audit: warning: {report.url} is not ready (table recovery under way); "
                "its numbers are not final",
                file=sys.stderr,
            )
    result = audit(reports, retained.events, config.engine)
    if args.json:
        document = _document(result, reports, retained, one_second, args.all)
        sys.stdout.write(msgspec.json.encode(document).decode() + "\n")
    else:
        print(_render(result, reports, retained, args.all))
    return 1 if result.differences else 0


def _progress(line: str) -> None:
    print(f"ccpulse audit: {line}", file=sys.stderr, flush=True)


def _document(
    result: Any, reports: list[Any], retained: Any, one_second: bool, every: bool
) -> dict[str, Any]:
    from streams.offline.audit import iso

    document: dict[str, Any] = {
        "ok": not result.differences,
        "workers": [
            {
                "url": r.url,
                "app_id": r.app_id,
                "at": r.at,
                "at_iso": iso(r.at),
                "ready": r.ready,
                "queues": sorted(r.queues),
            }
            for r in reports
        ],
        "one_second": one_second,
        "records": {
            "read": retained.records,
            "replayed": len(retained.events),
            "invalid": retained.invalid,
            "misrouted": retained.misrouted,
            "forwarded": retained.forwarded,
        },
        "queues": len(result.queues),
        "fields_compared": result.compared,
        "differences": [f.as_dict() for f in result.differences],
    }
    if every:
        document["fields"] = [f.as_dict() for f in result.fields]
    return document


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, dict):
        return "{...}"
    return str(value)


def _delta(value: float | None) -> str:
    """The signed difference (worker - replay), or ``≠`` when it is not a number."""
    if value is None:
        return "≠"
    return f"{value:+.10g}"


def _render(result: Any, reports: list[Any], retained: Any, every: bool) -> str:
    from streams.offline.audit import EQUAL, iso

    lines = [f"replayed {len(retained.events):,} events of {retained.records:,} records"]
    for r in reports:
        app = f" (app {r.app_id})" if r.app_id else ""
        lines.append(f"worker {r.url}{app} at {iso(r.at)}: {len(r.queues)} queues")
    shown = result.fields if every else result.differences
    several = len(reports) > 1
    rows = [
        (
            f.queue,
            f.kpi,
            _cell(f.live),
            _cell(f.replayed),
            "" if f.status == EQUAL else _delta(f.difference),
            f.worker if several else "",
        )
        for f in shown
        if f.kpi
    ]
    if rows:
        header = ("queue", "KPI", "worker", "replay", "difference", "from" if several else "")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
        for row in [header, *rows]:
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
            cells += [row[2].rjust(widths[2]), row[3].rjust(widths[3])]
            cells += [row[4].ljust(widths[4]), row[5]]
            lines.append("  ".join(cells).rstrip())
    for f in shown:
        if not f.kpi:
            lines.append(f"queue {f.queue}: {f.status}" + (f" ({f.worker})" if f.worker else ""))
    count = len(result.differences)
    verdict = f"{count} difference{'s' if count != 1 else ''}" if count else "no difference"
    lines.append(f"{verdict}: {len(result.queues)} queues, {result.compared:,} fields compared")
    return "\n".join(lines)
