"""One batch of Kafka messages -> events ready for the engine, in one pass, cheaply.

The worker does not read events from a Faust stream (its agent receives nothing): it fetches
each partition's records itself (streams/faust_adapter/batch_fetch.py), drops what it already
applied and plans them in offset order (streams/worker/ordering.py), and hands the planned runs
to :func:`decode_batch`; so does the benchmark's direct path (bench/direct.py), so both measure
the same code. A batch comes as runs of one partition's messages; each run is handled with
C-level passes over the whole run (``map`` over the messages for their values and offsets,
msgspec for the events, a list comparison for the keys), and only the grouping by queue is a
Python loop per event. A run holding a message that is not a valid event, or whose key is not
its queue, takes a slower path that sorts them out one by one (the rare case). Everything
countable is tallied per batch (``counts``) so the caller touches each Prometheus child once
per batch, not once per event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import Any, Protocol

from processors.engine import Item, source_key
from processors.events import Event
from streams.worker.codec import DecodeFailure, decode_event, event_decoder

__all__ = ["AppliedRun", "DecodedBatch", "RefusedMessage", "SourceMessage", "decode_batch"]


class SourceMessage(Protocol):
    """What we read of a message: Faust's ``Message`` and aiokafka's ``ConsumerRecord`` both
    have these attributes."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any


@dataclass(slots=True)
class AppliedRun:
    """A run's events handed to the engine, as the changelog delta keeps them: the raw values
    with their offsets (column by column: no object per event), and the queues they belong to.
    """

    topic: str
    partition: int
    offsets: list[int]
    values: list[bytes]
    queues: set[str]


@dataclass(slots=True)
class DecodedBatch:
    by_queue: dict[str, list[Item]] = field(default_factory=dict)
    """Per queue, its good events in arrival order with their source positions: the engine's
    input (:meth:`processors.engine.KpiEngine.apply_grouped`)."""
    applied: list[AppliedRun] = field(default_factory=list)
    """Per run, the raw values of its good events (the changelog delta of this batch)."""
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

    def originals(self, events: dict[tuple[str, int], Event], remove: bool) -> list[RefusedMessage]:
        """The messages of ``events`` ((:func:`source_key`, offset) -> event), in batch order;
        ``remove``: also take them out of ``applied`` and ``counts`` (events refused before the
        engine saw them, which the changelog must not hold; the caller has taken them out of
        ``by_queue``)."""
        found: list[RefusedMessage] = []
        for run in self.applied:
            key = source_key(run.topic, run.partition)
            if not any((key, offset) in events for offset in run.offsets):
                continue
            offsets: list[int] = []
            values: list[bytes] = []
            for offset, value in zip(run.offsets, run.values, strict=True):
                event = events.get((key, offset))
                if event is None:
                    offsets.append(offset)
                    values.append(value)
                    continue
                message = RefusedMessage(
                    run.topic, run.partition, offset, event.queue.encode(), value
                )
                found.append(message)
                if remove:
                    self._uncount(run.topic, type(event).__struct_config__.tag)
                else:
                    offsets.append(offset)
                    values.append(value)
            run.offsets, run.values = offsets, values
            run.queues.intersection_update(self.by_queue)
        self.applied = [run for run in self.applied if run.offsets]
        return found

    def _uncount(self, topic: str, tag: str) -> None:
        self.counts[topic, tag] -= 1
        if self.counts[topic, tag] <= 0:
            del self.counts[topic, tag]


@dataclass(frozen=True, slots=True)
class RefusedMessage:
    """A source message whose event was refused after decoding (a :class:`SourceMessage`)."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def decode_batch(
    runs: Iterable[Sequence[SourceMessage]], max_bytes: int | None = None
) -> DecodedBatch:
    """Decode a batch given as runs of one partition's messages (as fetched). Never raises
    because of what a message holds: a run the C passes cannot take whole (anything raised,
    a value over ``max_bytes``) is sorted out one message at a time."""
    out = DecodedBatch()
    groups: dict[str, list[Item]] = {}
    for run in runs:
        if not run:
            continue
        # A run is one partition's: its names are looked up once.
        topic, partition = run[0].topic, run[0].partition
        values: list[Any] = list(map(_value_of, run))
        try:
            clean = max_bytes is None or max(map(len, values)) <= max_bytes
            if clean:
                events: list[Any] = list(map(event_decoder.decode, values))
                queues = list(map(_queue_of, events))
                clean = list(map(_key_of, run)) == list(map(str.encode, queues))
        except Exception:  # any content: RecursionError, TypeError, DecodeError, ...
            clean = False
        if clean:
            offsets = list(map(_offset_of, run))
        else:
            events, queues, offsets, values = _sort_out(run, values, out, max_bytes)
        if not events:
            continue
        key = source_key(topic, partition)
        for queue, item in zip(queues, zip(events, repeat(key), offsets), strict=True):
            group = groups.get(queue)
            if group is None:
                group = groups[queue] = []
            group.append(item)
        out.applied.append(AppliedRun(topic, partition, offsets, values, set(queues)))
        for kind, count in Counter(map(type, events)).items():
            out.counts[topic, kind.__struct_config__.tag] += count
    out.by_queue = groups
    return out


def _sort_out(
    run: Sequence[SourceMessage], values: list[Any], out: DecodedBatch, max_bytes: int | None
) -> tuple[list[Event], list[str], list[int], list[bytes]]:
    """A run holding bad or misrouted messages, one message at a time: the failures and the
    misrouted go to ``out``; the good events are returned with their queues, offsets and values.
    """
    events: list[Event] = []
    queues: list[str] = []
    offsets: list[int] = []
    kept: list[bytes] = []
    for message, value in zip(run, values, strict=True):
        event = decode_event(value, max_bytes)
        if type(event) is DecodeFailure:
            out.failures.append((message, event))
            continue
        queue = event.queue
        if message.key != queue.encode():
            out.misrouted.append((message, event))
            continue
        events.append(event)
        queues.append(queue)
        offsets.append(message.offset)
        kept.append(value)
    return events, queues, offsets, kept


_value_of = attrgetter("value")
_key_of = attrgetter("key")
_offset_of = attrgetter("offset")
_queue_of = attrgetter("queue")
