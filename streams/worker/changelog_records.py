"""What the state table's changelog records hold, and how their keys and deltas are encoded.

Keys carry their partition: ``"{partition}/{queue}/s"`` for a queue's snapshot (its parts, when
too large for one record: streams/worker/snapshot_parts.py), ``"{partition}//d/{seq}"`` for a delta
(no queue name is empty), ``"{partition}/{queue}/a"`` for a queue's alert state
(streams/alerting/runtime.py). A delta record holds runs of one source partition's applied events,
column by column (offsets, raw values, queues), split to stay under ``RECORD_MAX_BYTES``. Deltas
of earlier versions (per queue, or a map of queue -> events) are still read.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from processors.engine import Position
from processors.events import Event
from streams.worker.batching import AppliedRun
from streams.worker.codec import DecodeFailure, decode_event

__all__ = [
    "RECORD_MAX_BYTES",
    "DeltaRun",
    "Replay",
    "delta_key",
    "parse_key",
    "records_of",
    "replay_events",
    "runs_of_old",
    "snapshot_key",
]

_delta_encoder = msgspec.msgpack.Encoder()
RECORD_MAX_BYTES = 512 * 1024
"""Encoded bytes per delta record at most (records are split beyond: :func:`records_of`)."""

DeltaRun = tuple[str, int, list[int], list[bytes], list[str]]
"""A delta record holds a list of these: (topic, partition, offsets, raw values, queues), one per
run of a source partition's events applied (streams/worker/batching.py, :class:`AppliedRun`)."""
_OldDelta = list[tuple[str, int, int, bytes]]
"""Per queue, (topic, partition, offset, raw value) per event: the deltas of earlier versions."""
delta_decoder = msgspec.msgpack.Decoder(list[DeltaRun] | dict[str, _OldDelta])
queue_delta_decoder = msgspec.msgpack.Decoder(_OldDelta)

Replay = tuple[tuple[int, int], bytes, int, list[DeltaRun]]
"""A delta read back by :meth:`QueueStateStore.rebuild`: (sort key, table key, partition, its
runs); the sort key puts an earlier version's per-queue deltas first."""


def snapshot_key(partition: int, queue: str) -> bytes:
    return f"{partition}/{queue}/s".encode()


def delta_key(partition: int, seq: int) -> bytes:
    return f"{partition}//d/{seq:012d}".encode()


def parse_key(key: bytes) -> tuple[int, str, int | None]:
    """(partition, queue, delta seq or None for a snapshot); queue "" for a partition delta."""
    text = key.decode()
    partition, rest = text.split("/", 1)
    if rest.endswith("/s"):
        return int(partition), rest[:-2], None
    if rest.startswith("/d/") and rest[3:].isdigit():
        return int(partition), "", int(rest[3:])
    queue, _, seq = rest.rpartition("/d/")  # a per-queue delta of an earlier version
    return int(partition), queue, int(seq)


def records_of(runs: list[AppliedRun]) -> Iterator[tuple[bytes, set[str], int]]:
    """One partition's staged runs as encoded records of at most about ``RECORD_MAX_BYTES`` (with
    the queues each holds and its number of events): a record must stay under Kafka's default
    maximum message size (1 MB), and a worker draining a backlog stages more than that between
    deliveries. A run too large for a record of its own is split into consecutive records, in
    order (each half named with the whole run's queues: a delta is deleted once all of them
    have a newer snapshot, so naming one too many only keeps it a little longer)."""
    part: list[AppliedRun] = []
    size = 0
    for run in runs:
        events = len(run.values)
        length = sum(map(len, run.values)) + _PER_EVENT * events + _PER_RUN * len(run.queues)
        if size + length > RECORD_MAX_BYTES and part:
            yield _record(part)
            part, size = [], 0
        if length > RECORD_MAX_BYTES and events > 1:
            half = events // 2
            yield from records_of(
                [
                    AppliedRun(
                        run.topic, run.partition, run.offsets[:half], run.values[:half], run.queues
                    ),
                    AppliedRun(
                        run.topic, run.partition, run.offsets[half:], run.values[half:], run.queues
                    ),
                ]
            )
            continue
        part.append(run)
        size += length
    if part:
        yield _record(part)


def _record(part: list[AppliedRun]) -> tuple[bytes, set[str], int]:
    value = _delta_encoder.encode(
        [(run.topic, run.partition, run.offsets, run.values, list(run.queues)) for run in part]
    )
    return value, set().union(*(run.queues for run in part)), sum(len(run.values) for run in part)


_PER_EVENT = 12
"""Bytes a delta record spends per event beside its value (its offset, the value's framing)."""
_PER_RUN = 32
"""Bytes a delta record spends per run and queue (the topic, the queue names, framing)."""


def runs_of_old(queues: dict[str, _OldDelta]) -> list[DeltaRun]:
    """An earlier version's delta (per queue, its events with their positions) as runs."""
    return [
        (topic, partition, [offset], [raw], [queue])
        for queue, events in queues.items()
        for topic, partition, offset, raw in events
    ]


def replay_events(deltas: list[Replay]) -> Iterator[tuple[Event, Position]]:
    for *_, runs in deltas:
        for topic, partition, offsets, values, _ in runs:
            for offset, raw in zip(offsets, values, strict=True):
                event = decode_event(raw)
                if not isinstance(event, DecodeFailure):  # deltas only hold decoded events
                    yield event, Position(topic, partition, offset)
