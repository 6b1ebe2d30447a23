"""One batch of Kafka messages -> events ready for the engine, in one pass, cheaply.

The KPI agent (streams/app.py) hands every batch it takes from the stream to
:func:`decode_batch`, and so does the benchmark's direct path (bench/run.py), so both measure
the same code. Per event this does only what cannot be done per batch: decode and validate the
value (msgspec, one C call), check the key, and note the source position. Everything countable
is tallied per batch (``counts``) so the caller touches each Prometheus child once per batch,
not once per event. Events come out grouped by queue, as the engine applies them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

import msgspec

from processors.engine import Item, source_key
from processors.events import Event
from streams.codec import DecodeFailure, decode_event, event_decoder

__all__ = ["DecodedBatch", "Delta", "SourceMessage", "decode_batch"]

Delta = list[tuple[str, int, int, bytes]]
"""What the state store writes per touched queue: (topic, partition, offset, raw value)."""


class SourceMessage(Protocol):
    """What we read of a message: Faust's ``Message`` and aiokafka's ``ConsumerRecord`` both
    have these attributes."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any


@dataclass(slots=True)
class DecodedBatch:
    by_queue: dict[str, list[Item]] = field(default_factory=dict)
    """Per queue, its good events in arrival order with their source positions: the engine's
    input (:meth:`processors.engine.KpiEngine.apply_grouped`)."""
    raw_by_queue: dict[str, Delta] = field(default_factory=dict)
    """Per queue, the raw values applied (the changelog delta of this batch)."""
    failures: list[tuple[Any, DecodeFailure]] = field(default_factory=list)
    """Messages that are not valid events (to the dead-letter topic)."""
    misrouted: list[tuple[Any, Event]] = field(default_factory=list)
    """Valid events whose key is not their queue (to be re-keyed, not applied here)."""
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Good events per (source topic, event type)."""

    @property
    def events(self) -> int:
        """How many good events the batch holds."""
        return sum(map(len, self.by_queue.values()))


def decode_batch(runs: Iterable[Sequence[SourceMessage]]) -> DecodedBatch:
    """Decode a batch given as runs of one partition's messages (as fetched).

    Each run's values are decoded in one C-level pass (``map``); a run holding a bad value is
    decoded again one value at a time, to name what is wrong with each (the rare case)."""
    out = DecodedBatch()
    lists: dict[str, tuple[list[Item], Delta]] = {}
    for run in runs:
        if not run:
            continue
        # A run is one partition's: its names are looked up once.
        topic, partition = run[0].topic, run[0].partition
        key = source_key(topic, partition)
        values = list(map(_value_of, run))
        try:
            events: list[Any] = list(map(event_decoder.decode, values))
        except (msgspec.DecodeError, TypeError):
            events = list(map(decode_event, values))
        kinds = Counter(map(type, events))
        for message, event, value in zip(run, events, values, strict=True):
            if type(event) is DecodeFailure:
                out.failures.append((message, event))
                continue
            queue = event.queue
            if message.key != queue.encode():
                out.misrouted.append((message, event))
                kinds[type(event)] -= 1
                continue
            offset = message.offset
            pair = lists.get(queue)
            if pair is None:
                pair = lists[queue] = ([], [])
            pair[0].append((event, key, offset))
            pair[1].append((topic, partition, offset, value))
        kinds.pop(DecodeFailure, None)
        for kind, count in kinds.items():
            if count:
                out.counts[topic, kind.__struct_config__.tag] += count
    out.by_queue = {queue: pair[0] for queue, pair in lists.items()}
    out.raw_by_queue = {queue: pair[1] for queue, pair in lists.items()}
    return out


_value_of = attrgetter("value")
