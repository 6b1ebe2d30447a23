"""Source formats: readers that turn a file into canonical events (or reported problems).

``FORMATS`` maps a ``--format`` name to a reader ``path -> Iterator[Event | ParseProblem]``;
``ccpulse replay`` uses it, so history from any supported source can be replayed offline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from processors.events import Event
from streams.sources.asterisk import read_queue_log
from streams.sources.jsonl import read_jsonl
from streams.sources.problems import ParseProblem

__all__ = ["FORMATS", "ParseProblem"]

FORMATS: dict[str, Callable[[str], Iterator[Event | ParseProblem]]] = {
    "ccpulse-jsonl": read_jsonl,
    "asterisk-queue-log": read_queue_log,
}
