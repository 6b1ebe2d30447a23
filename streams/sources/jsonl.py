"""``ccpulse-jsonl``: one canonical event (docs/events.md) per line."""

from __future__ import annotations

from collections.abc import Iterator

from processors.events import Event
from streams.sources.problems import ParseProblem
from streams.worker.codec import DecodeFailure, decode_event

__all__ = ["read_jsonl"]


def read_jsonl(path: str) -> Iterator[Event | ParseProblem]:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            decoded = decode_event(line)
            if isinstance(decoded, DecodeFailure):
                yield ParseProblem(number, decoded.reason, line.decode(errors="replace").rstrip())
            else:
                yield decoded
