"""The retained events of the source topics, read once from the start, as the worker reads them.

``ccpulse audit`` replays what the topics hold and compares it with what the workers show. The
topics are read once, to where they end when the read starts (streams/offline/topic_reader.py).

Each record is sorted out as the worker's decoder sorts it (streams/worker/batching.py):

- not a valid event (streams/worker/codec.py): the worker dead-letters it, replay skips it;
- a valid event whose key is not its queue: the worker re-keys it (a second copy, keyed right,
  lands on the same topic) and never applies the first, so replay skips the first too;
- a ``ticket.moved_in``: derived, forwarded by the worker that applied the move; replay forwards
  moves itself (processors/engine.py ``apply_all``), so the copies on the topic are skipped.

Within a partition the records keep their order, and a queue lives on one partition of each
topic, so each queue's events reach the engine in the order the worker applied them. The
partitions are interleaved by event time (a merge that never reorders a partition): replay
forwards a moved ticket into its new queue at once, so the new queue's own events up to the
move must come before it, as they do in a file of events in time order, or replay would drop
them as late where the worker (which gets the forwarded event back through Kafka, after them)
does not.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processors.events import Event, TicketMovedIn
from streams.offline.topic_reader import records_to_end
from streams.worker.codec import DecodeFailure, decode_event

__all__ = ["RetainedEvents", "interleave", "read_retained", "sort_record"]


@dataclass
class RetainedEvents:
    events: list[Event] = field(default_factory=list)
    records: int = 0
    invalid: int = 0
    """Records that are not valid events (the worker dead-letters them)."""
    misrouted: int = 0
    """Events keyed by something other than their queue (the worker re-keys a copy)."""
    forwarded: int = 0
    """``ticket.moved_in`` records forwarded by workers (replay forwards moves itself)."""
    per_topic: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        topics = ", ".join(f"{name} {count:,}" for name, count in sorted(self.per_topic.items()))
        return (
            f"{self.records:,} records ({topics}): {len(self.events):,} events replayed, "
            f"{self.invalid:,} invalid (dead-lettered), {self.misrouted:,} keyed by another "
            f"queue (re-keyed), {self.forwarded:,} forwarded moves"
        )


def sort_record(out: RetainedEvents, key: bytes | None, value: bytes | None) -> Event | None:
    """Decode one record: the event if the worker applies it as is, else None (counted in
    ``out`` by why it is skipped)."""
    out.records += 1
    event = decode_event(value)
    if isinstance(event, DecodeFailure):
        out.invalid += 1
    elif key != event.queue.encode():
        out.misrouted += 1
    elif isinstance(event, TicketMovedIn):
        out.forwarded += 1
    else:
        return event
    return None


def read_retained(
    topics: Sequence[str],
    client: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    progress_every: float = 2.0,
    stall_seconds: float = 60.0,
) -> RetainedEvents:
    """Every retained record of ``topics`` up to their ends at the start of the read
    (streams/offline/topic_reader.py), sorted out as the worker sorts it; raises
    :class:`TopicReadError`."""
    out = RetainedEvents(per_topic={topic: 0 for topic in topics})
    kept: dict[Any, list[Event]] = {}
    for tp, record in records_to_end(topics, client, progress, progress_every, stall_seconds):
        out.per_topic[tp.topic] += 1
        event = sort_record(out, record.key, record.value)
        if event is not None:
            kept.setdefault(tp, []).append(event)
    # Partitions in a fixed order (topic, partition): the merge keeps it among equal times.
    order = sorted(kept, key=lambda tp: (topics.index(tp.topic), tp.partition))
    out.events = interleave(kept[tp] for tp in order)
    return out


def interleave(partitions: Iterable[list[Event]]) -> list[Event]:
    """The partitions' events in one list by event time, each partition's in its own order
    (a merge that only ever takes the head of a partition, sorted or not)."""
    return list(heapq.merge(*partitions, key=_event_time))


def _event_time(event: Event) -> datetime:
    return event.time
