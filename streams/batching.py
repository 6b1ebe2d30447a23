"""One batch of Kafka messages -> events ready for the engine, in one pass, cheaply.

The KPI agent (streams/app.py) hands every batch it takes from the stream to
:func:`decode_batch`, and so does the benchmark's direct path (bench/run.py), so both measure
the same code. Per event this does only what cannot be done per batch: decode and validate the
value (msgspec, one C call), check the key, and note the source position. Everything countable
is tallied per batch (``counts``) so the caller touches each Prometheus child once per batch,
not once per event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from processors.engine import Position
from processors.events import Event
from streams.codec import DecodeFailure, decode_event

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
    events: list[tuple[Event, Position]] = field(default_factory=list)
    """Good events in arrival order, with their source positions: the engine's input."""
    raw_by_queue: dict[str, Delta] = field(default_factory=dict)
    """Per queue, the raw values applied (the changelog delta of this batch)."""
    failures: list[tuple[Any, DecodeFailure]] = field(default_factory=list)
    """Messages that are not valid events (to the dead-letter topic)."""
    misrouted: list[tuple[Any, Event]] = field(default_factory=list)
    """Valid events whose key is not their queue (to be re-keyed, not applied here)."""
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Good events per (source topic, event type)."""


def decode_batch(messages: Iterable[SourceMessage]) -> DecodedBatch:
    out = DecodedBatch()
    events_append = out.events.append
    raw_by_queue = out.raw_by_queue
    counts = out.counts
    for message in messages:
        decoded = decode_event(message.value)
        if isinstance(decoded, DecodeFailure):
            out.failures.append((message, decoded))
            continue
        queue = decoded.queue
        if message.key != queue.encode():
            out.misrouted.append((message, decoded))
            continue
        topic, partition, offset = message.topic, message.partition, message.offset
        events_append((decoded, Position(topic, partition, offset)))
        delta = raw_by_queue.get(queue)
        if delta is None:
            delta = raw_by_queue[queue] = []
        delta.append((topic, partition, offset, message.value))
        counts[topic, decoded.__struct_config__.tag] += 1
    return out
