"""``ccpulse schema``: print the JSON Schema of the event contract (generated from the types)."""

from __future__ import annotations

import argparse
import json
import sys


def event_schema() -> dict[str, object]:
    import msgspec

    from processors.events import SCHEMA_VERSION, Event

    schema = msgspec.json.schema(Event)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"ccpulse event, version {SCHEMA_VERSION}"
    return schema


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("schema", help="print the event JSON Schema")
    parser.add_argument("--output", "-o", help="write to this file instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = json.dumps(event_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0
