"""The retained events of the source topics, read once from the start, as the worker reads them.

``ccpulse audit`` replays what the topics hold and compares it with what the workers show. The
reader is a plain kafka-python consumer: no consumer group (nothing committed, no rebalance, the
workers' group untouched), every partition assigned, read from its first retained offset to its
end when the read starts (records produced meanwhile are left out, so the read ends). That end
is the highwater mark of the partition's first fetch response, not a ListOffsets "latest"
answer: the embedded broker answers that one wrongly for multi-record producer batches
(streams/broker/embedded.py), and the fetch highwater is what the workers' lag is measured against
(streams/faust_adapter/lag.py).

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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processors.events import Event, TicketMovedIn
from streams.worker.codec import DecodeFailure, decode_event

__all__ = ["RetainedEvents", "SourceReadError", "interleave", "read_retained", "sort_record"]


class SourceReadError(Exception):
    """The topics could not be read (no broker, a missing topic, a read that stopped)."""


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
    """Every retained record of ``topics`` up to their ends at the start of the read.

    ``client``: kafka-python connection arguments (streams/broker/settings.py). ``progress`` is
    called with a line every ``progress_every`` seconds of a long read.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client,
        )
    except KafkaError as exc:
        servers = ",".join(client.get("bootstrap_servers", []))
        raise SourceReadError(f"cannot connect to Kafka at {servers}: {exc}") from exc
    try:
        partitions = []
        for topic in topics:
            found = consumer.partitions_for_topic(topic)
            if not found:
                raise SourceReadError(f"topic {topic} does not exist (or has no partitions)")
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        start = consumer.beginning_offsets(partitions)
        return _read(consumer, start, progress, progress_every, stall_seconds)
    except KafkaError as exc:
        raise SourceReadError(f"reading {', '.join(topics)} failed: {exc}") from exc
    finally:
        consumer.close()


def _read(
    consumer: Any,
    start: dict[Any, int],
    progress: Callable[[str], None] | None,
    progress_every: float,
    stall_seconds: float,
) -> RetainedEvents:
    out = RetainedEvents(per_topic={tp.topic: 0 for tp in start})
    kept: dict[Any, list[Event]] = {tp: [] for tp in start}
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    # Each partition's end is the first highwater mark a fetch response gives for it.
    end: dict[Any, int] = {}
    remaining = set(start)
    began = last_report = last_progress = time.monotonic()
    while remaining:
        batches = consumer.poll(timeout_ms=1000, max_records=10_000)
        for tp in remaining - set(end):
            highwater = consumer.highwater(tp)
            if highwater is not None:
                end[tp] = highwater
        for tp, records in batches.items():
            for record in records:
                if tp in end and record.offset >= end[tp]:
                    break
                out.per_topic[tp.topic] += 1
                event = sort_record(out, record.key, record.value)
                if event is not None:
                    kept[tp].append(event)
        # A compacted or transactional partition can end on an offset no record has: its
        # position, not the last record, says when it is done.
        for tp in list(remaining):
            if tp in end and consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
                consumer.pause(tp)
        now = time.monotonic()
        if batches:
            last_progress = now
        elif now - last_progress > stall_seconds:
            waiting = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(remaining))
            raise SourceReadError(f"no record for {stall_seconds:g} s; still to read: {waiting}")
        if progress and now - last_report >= progress_every:
            last_report = now
            total = sum(end[tp] - start[tp] for tp in end)
            known = "" if len(end) == len(start) else "at least "
            progress(
                f"read {out.records:,} of {known}{total:,} records "
                f"({len(start) - len(remaining)} of {len(start)} partitions done) "
                f"in {now - began:.0f} s"
            )
    out.events = interleave(kept.values())
    return out


def interleave(partitions: Iterable[list[Event]]) -> list[Event]:
    """The partitions' events in one list by event time, each partition's in its own order
    (a merge that only ever takes the head of a partition, sorted or not)."""
    return list(heapq.merge(*partitions, key=_event_time))


def _event_time(event: Event) -> datetime:
    return event.time
