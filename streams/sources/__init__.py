"""Source formats: readers that turn a file into canonical events (or reported problems).

``FORMATS`` maps a ``--format`` name to a reader ``path -> Iterator[Event | ParseProblem]``
with the default source settings; :func:`reader_for` gives the same reader bound to the
configured ``sources:`` section (queue maps). ``ccpulse replay`` uses it, so history from any
supported source can be replayed offline with the mappings the live adapters use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from processors.events import Event
from streams.sources.asterisk import read_queue_log
from streams.sources.jira import map_jira
from streams.sources.jsonl import read_jsonl
from streams.sources.payloads import read_payload_lines
from streams.sources.problems import ParseProblem
from streams.sources.settings import SourcesConfig
from streams.sources.twilio import map_taskrouter
from streams.sources.zendesk import map_zendesk

__all__ = ["FORMATS", "ParseProblem", "reader_for"]

Reader = Callable[[str], Iterator[Event | ParseProblem]]


def reader_for(name: str, sources: SourcesConfig) -> Reader:
    """The reader of format ``name`` using ``sources`` (KeyError for an unknown name)."""
    if name == "ccpulse-jsonl":
        return read_jsonl
    if name == "asterisk-queue-log":
        return lambda path: read_queue_log(path, sources.asterisk.queue_map)
    if name == "twilio-taskrouter":

        def read_twilio(path: str) -> Iterator[Event | ParseProblem]:
            known: dict[str, str] = {}  # TaskQueue SID -> name, per file
            return read_payload_lines(
                path, lambda p: map_taskrouter(p, sources.twilio, known), form=True
            )

        return read_twilio
    mappings: dict[str, Callable[[Any], Any]] = {
        "zendesk": lambda p: map_zendesk(p, sources.zendesk),
        "jira": lambda p: map_jira(p, sources.jira),
    }
    mapping = mappings[name]
    return lambda path: read_payload_lines(path, mapping)


FORMAT_NAMES = ("ccpulse-jsonl", "asterisk-queue-log", "twilio-taskrouter", "zendesk", "jira")

FORMATS: dict[str, Reader] = {name: reader_for(name, SourcesConfig()) for name in FORMAT_NAMES}
