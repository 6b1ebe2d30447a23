"""``ccpulse report``: interval reports (15 min to a day) from ``ccpulse.intervals``, or
recomputed from events with the same engine (docs/reports.md)."""

from __future__ import annotations

import argparse
import fnmatch
import sys
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.config import ConfigError, config_from_env


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "report", help="interval report (15m/30m/1h/1d) from ccpulse.intervals or from events"
    )
    parser.add_argument(
        "--from", dest="start", required=True, help="date (local midnight) or ISO instant"
    )
    parser.add_argument(
        "--to", dest="end", required=True, help="date (included) or ISO instant (excluded)"
    )
    parser.add_argument("--interval", default="15m", choices=("15m", "30m", "1h", "1d"))
    parser.add_argument("--queues", default="*", help="shell-style pattern of queue names")
    parser.add_argument("--tz", default="UTC", help="time zone of dates, rows and hours")
    parser.add_argument("--format", default="table", choices=("csv", "json", "table"))
    parser.add_argument(
        "--business-hours",
        metavar="CALENDAR",
        help="keep only open hours, e.g. 'mon-fri 08:00-18:00; sat 09:00-12:00' (in --tz)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from-events",
        action="store_true",
        help="recompute from the source topics' retained events instead of ccpulse.intervals",
    )
    source.add_argument(
        "--events-file", metavar="FILE", help="recompute from a ccpulse-jsonl file of events"
    )
    parser.add_argument("--bootstrap", help="override kafka.bootstrap from the config")
    parser.set_defaults(func=run)


def _progress(line: str) -> None:
    print(f"ccpulse report: {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from processors.reports import BusinessHours, parse_instant, report_rows
    from streams.offline.report import read_intervals, records_of, render, replay_intervals

    try:
        config = config_from_env(args.config)
        zone = ZoneInfo(args.tz)
        first = parse_instant(args.start, zone)
        end = parse_instant(args.end, zone, end_of_day=True)
        hours = BusinessHours(args.business_hours, zone) if args.business_hours else None
    except (ConfigError, ValueError, ZoneInfoNotFoundError) as exc:
        print(f"ccpulse report: {exc}", file=sys.stderr)
        return 2
    if end <= first:
        print("ccpulse report: --to is not after --from", file=sys.stderr)
        return 2
    if args.events_file:
        from streams.offline.audit import file_events

        try:
            values = replay_intervals(file_events(args.events_file), config.engine)
        except OSError as exc:
            print(f"ccpulse report: cannot read {args.events_file}: {exc}", file=sys.stderr)
            return 2
    else:
        from streams.broker.access import checked_kafka_python_client

        bootstrap, client = checked_kafka_python_client(config.kafka, args.bootstrap)
        client = {"bootstrap_servers": bootstrap.split(","), **client}
        from streams.offline.topic_reader import TopicReadError

        if args.from_events:
            from streams.offline.retained import read_retained

            topics = (config.topics.telephony, config.topics.ticketing)
            try:
                retained = read_retained(topics, client, progress=_progress)
            except TopicReadError as exc:
                print(f"ccpulse report: {exc}", file=sys.stderr)
                return 2
            values = replay_intervals(retained.events, config.engine)
        else:
            try:
                values = read_intervals(config.topics.intervals, client, progress=_progress)
            except TopicReadError as exc:
                print(f"ccpulse report: {exc}", file=sys.stderr)
                return 2
    records = [r for r in records_of(values.values()) if fnmatch.fnmatchcase(r[0], args.queues)]
    rows = report_rows(records, args.interval, zone, first, end, hours)
    sys.stdout.write(render(rows, args.format))
    return 0
