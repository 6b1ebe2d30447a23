"""Persisting per-queue KPI state in a Faust table: a snapshot plus the batches applied since.

Writing a queue's whole state after every batch would cost as much as the state (an hour of
per-second panes for a busy queue is ~100 kB); writing per event is what makes naive Faust agents
slow. Instead, per batch and source partition, we write one *delta* record holding, per queue,
the raw events applied to it with their source positions, and every ``snapshot_interval`` one
*snapshot* per changed queue, after which a delta whose queues all have a newer snapshot is
deleted (tombstoned). One record per partition, not per queue: a batch touches most queues of a
busy centre, and each record is a producer send (on the embedded broker, a request of its own),
so per-queue deltas made the producer the worker's bottleneck (``make bench``, issue 7).

Recovery = decode each queue's snapshot, then re-apply the deltas in order. Re-applying is safe
because the engine skips any position it has already applied (the snapshot carries the last
offset per partition), so a crash between writing a snapshot and deleting deltas neither loses
nor double-counts an event.

Keys carry their partition (``"{partition}/{queue}/s"`` for a snapshot, ``"{partition}//d/{seq}"``
for a delta: no queue name is empty) and every record is sent to the changelog partition of the
events it came from: a batch mixes partitions, so Faust's "partition of the current event" would
be wrong. The table is therefore written through :meth:`QueueStateStore.put` and never with
``table[key] = value``. Per-queue deltas (``"{partition}/{queue}/d/{seq}"``), written by earlier
versions, are still replayed and deleted at the queue's next snapshot.
"""

from __future__ import annotations

import asyncio
import math
import zlib
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, Protocol

import msgspec

from processors.engine import KpiEngine, Position
from processors.events import Event
from processors.state import decode_state, encode_state
from streams.batching import Delta
from streams.codec import DecodeFailure, decode_event

__all__ = ["QueueStateStore", "delta_key", "snapshot_key"]

_delta_encoder = msgspec.msgpack.Encoder()
_delta_decoder = msgspec.msgpack.Decoder(dict[str, Delta])
_queue_delta_decoder = msgspec.msgpack.Decoder(Delta)

Replay = tuple[tuple[int, int], bytes, int, dict[str, Delta]]
"""A delta read back by :meth:`QueueStateStore.rebuild`: (sort key, table key, partition, events
per queue); the sort key puts an earlier version's per-queue deltas first."""


class ChangelogTable(Protocol):
    """What we need of a Faust table: its local data and an explicit-partition changelog send."""

    data: MutableMapping[Any, Any]

    def send_changelog(
        self, partition: int | None, key: Any, value: Any, *a: Any, **k: Any
    ) -> Any: ...


def snapshot_key(partition: int, queue: str) -> bytes:
    return f"{partition}/{queue}/s".encode()


def delta_key(partition: int, seq: int) -> bytes:
    return f"{partition}//d/{seq:012d}".encode()


def _parse_key(key: bytes) -> tuple[int, str, int | None]:
    """(partition, queue, delta seq or None for a snapshot); queue "" for a partition delta."""
    text = key.decode()
    partition, rest = text.split("/", 1)
    if rest.endswith("/s"):
        return int(partition), rest[:-2], None
    if rest.startswith("/d/") and rest[3:].isdigit():
        return int(partition), "", int(rest[3:])
    queue, _, seq = rest.rpartition("/d/")  # a per-queue delta of an earlier version
    return int(partition), queue, int(seq)


class QueueStateStore:
    """Owns the mapping between the engine's in-memory state and the changelog table."""

    def __init__(self, table: ChangelogTable, engine: KpiEngine) -> None:
        self.table = table
        self.engine = engine
        self.partition_of: dict[str, int] = {}
        self._seq: dict[int, int] = {}
        """Per partition, the last delta sequence number written or recovered."""
        self._unsnapshotted: dict[bytes, tuple[int, set[str]]] = {}
        """Per live delta key: its partition and the queues it holds that have no newer
        snapshot yet (it is deleted once that set is empty)."""
        self.dirty: set[str] = set()
        self._in_flight: list[Any] = []
        """What sending the last batch's delta records returned (see :meth:`delivered`)."""
        self._slot: dict[str, int] = {}
        """Per queue, the interval slot of its last periodic snapshot (write_due_snapshots)."""
        self.last_rebuild: tuple[int, int] = (0, 0)
        """(snapshots, delta records) read by the last :meth:`rebuild`, for its log line."""

    def put(self, partition: int, key: bytes, value: bytes | None) -> Any:
        """Write ``key`` to the table and its changelog; what the send returned (Faust: a
        future that is done once the broker has the record)."""
        if value is None:
            self.table.data.pop(key, None)
        else:
            self.table.data[key] = value
        return self.table.send_changelog(partition, key, value)

    async def delivered(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until the last batch's delta records are in Kafka.

        The batch task waits here before it applies a batch that is not full: while a batch's
        changelog records are on their way, the next events gather into one larger batch
        instead of many small ones (group commit). A fast broker costs no wait; a slow one
        (the embedded broker sends one record per request) gets fewer, larger records instead
        of a growing backlog: applying every fetch at once put seconds of changelog lag behind
        the freshness benchmark's markers (``make bench``)."""
        pending = [f for f in self._in_flight if isinstance(f, asyncio.Future) and not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def write_deltas(self, applied: dict[str, Delta]) -> None:
        """One record per source partition: per touched queue, the raw events of this batch
        with their positions."""
        by_partition: dict[int, dict[str, Delta]] = {}
        for queue, events in applied.items():
            partition = events[0][1]
            self.partition_of[queue] = partition
            by_partition.setdefault(partition, {})[queue] = events
        self.dirty.update(applied)
        self._in_flight = []
        for partition, queues in by_partition.items():
            seq = self._seq[partition] = self._seq.get(partition, 0) + 1
            key = delta_key(partition, seq)
            self._in_flight.append(self.put(partition, key, _delta_encoder.encode(queues)))
            self._unsnapshotted[key] = (partition, set(queues))

    def write_snapshots(self, queues: Iterable[str] | None = None) -> int:
        """Snapshot each dirty queue, then delete the deltas the snapshots now contain."""
        written: set[str] = set()
        for queue in list(self.dirty if queues is None else queues):
            state = self.engine.queues.get(queue)
            partition = self.partition_of.get(queue)
            if state is None or partition is None:
                continue
            self.put(partition, snapshot_key(partition, queue), encode_state(state))
            self.dirty.discard(queue)
            written.add(queue)
        if written:
            for key, (partition, waiting) in list(self._unsnapshotted.items()):
                waiting -= written
                if not waiting:
                    self.put(partition, key, None)
                    del self._unsnapshotted[key]
        return len(written)

    def write_due_snapshots(self, now: float, interval: float) -> int:
        """Snapshot each dirty queue whose turn has come: once per ``interval`` at most, each
        queue at its own phase within it (from a hash of its name), so that the encoding and
        the changelog records are spread over the interval. All at once, 100 busy queues took
        ~330 ms to encode: a stall of the event loop, and a burst of large records ahead of
        the next batch's deltas in the producer, every interval (``make bench`` freshness).
        A queue's first snapshot comes at its next turn, within ``interval``."""
        due: list[str] = []
        for queue in self.dirty:
            phase = zlib.crc32(queue.encode()) / 2**32 * interval
            slot = math.floor((now + phase) / interval)
            last = self._slot.setdefault(queue, slot)
            if slot != last:
                due.append(queue)
                self._slot[queue] = slot
        return self.write_snapshots(due) if due else 0

    def rebuild(self, partitions: set[int]) -> list[str]:
        """Rebuild the engine's state for ``partitions`` from the recovered table."""
        snapshots: dict[str, bytes] = {}
        deltas: list[Replay] = []
        for key, value in list(self.table.data.items()):
            if key.endswith(b"/a"):
                continue  # a queue's alert state: restored by streams/alert_runtime.py
            partition, queue, seq = _parse_key(key)
            if partition not in partitions or value is None:
                continue
            if seq is None:
                snapshots[queue] = value
                self.partition_of[queue] = partition
            elif queue:  # an earlier version's per-queue delta: before every partition delta
                deltas.append(
                    ((0, seq), key, partition, {queue: _queue_delta_decoder.decode(value)})
                )
            else:
                deltas.append(((1, seq), key, partition, _delta_decoder.decode(value)))
                self._seq[partition] = max(self._seq.get(partition, 0), seq)
        deltas.sort(key=lambda delta: delta[0])
        owners = set(snapshots).union(*(queues for *_, queues in deltas))
        for queue in owners:
            if queue in snapshots:
                self.engine.queues[queue] = decode_state(snapshots[queue])
            else:
                self.engine.queues.pop(queue, None)
        self.engine.apply(_replay_events(deltas))
        for _, key, partition, queues in deltas:
            for queue in queues:
                self.partition_of[queue] = partition
            self._unsnapshotted[key] = (partition, set(queues))
            # Snapshot these queues at the next interval, so their deltas can be deleted.
            self.dirty.update(queues)
        self.last_rebuild = (len(snapshots), len(deltas))
        return sorted(owners)

    def forget(self, partitions: set[int]) -> list[str]:
        """Drop the engine's state of ``partitions`` (no longer owned, or about to be rebuilt).

        The table's local data is left alone: Faust owns that store, may not re-read a
        partition it already holds on the next assignment, and the changelog keeps it exact.
        """
        gone = [q for q, p in self.partition_of.items() if p in partitions]
        for queue in gone:
            self.engine.queues.pop(queue, None)
            self.partition_of.pop(queue, None)
            self.dirty.discard(queue)
            self._slot.pop(queue, None)
        for key, (partition, _) in list(self._unsnapshotted.items()):
            if partition in partitions:
                del self._unsnapshotted[key]
        for partition in partitions:
            self._seq.pop(partition, None)
        return gone


def _replay_events(deltas: list[Replay]) -> Iterator[tuple[Event, Position]]:
    for *_, queues in deltas:
        for events in queues.values():
            for topic, partition, offset, raw in events:
                event = decode_event(raw)
                if not isinstance(event, DecodeFailure):  # deltas only hold decoded events
                    yield event, Position(topic, partition, offset)
