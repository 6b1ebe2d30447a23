"""Persisting per-queue KPI state in a Faust table: a snapshot plus the batches applied since.

Writing a queue's whole state after every batch would cost as much as the state (an hour of
per-second panes for a busy queue is ~100 kB); writing per event is what makes naive Faust agents
slow. Instead, per touched queue and batch, we write one *delta* record holding the raw events
applied to that queue with their source positions, and every ``snapshot_interval`` one
*snapshot* of the full state, after which that queue's deltas are deleted (tombstoned).

Recovery = decode the snapshot, then re-apply the deltas in order. Re-applying is safe because
the engine skips any position it has already applied (the snapshot carries the last offset per
partition), so a crash between writing a snapshot and deleting deltas, or between writing two
queues' deltas, neither loses nor double-counts an event.

Keys carry their partition (``"{partition}/{queue}/s"`` and ``"{partition}/{queue}/d/{seq}"``)
and every record is sent to the changelog partition of the events it came from: batches taken
with ``stream.take_events`` mix partitions, so Faust's "partition of the current event" would be
wrong. The table is therefore written through :meth:`QueueStateStore.put` and never with
``table[key] = value``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, Protocol

import msgspec

from processors.engine import KpiEngine, Position
from processors.events import Event
from processors.state import decode_state, encode_state
from streams.codec import DecodeFailure, decode_event

__all__ = ["QueueStateStore", "delta_key", "snapshot_key"]

Delta = list[tuple[str, int, int, bytes]]
_delta_encoder = msgspec.msgpack.Encoder()
_delta_decoder = msgspec.msgpack.Decoder(list[tuple[str, int, int, bytes]])


class ChangelogTable(Protocol):
    """What we need of a Faust table: its local data and an explicit-partition changelog send."""

    data: MutableMapping[Any, Any]

    def send_changelog(
        self, partition: int | None, key: Any, value: Any, *a: Any, **k: Any
    ) -> Any: ...


def snapshot_key(partition: int, queue: str) -> bytes:
    return f"{partition}/{queue}/s".encode()


def delta_key(partition: int, queue: str, seq: int) -> bytes:
    return f"{partition}/{queue}/d/{seq:012d}".encode()


def _parse_key(key: bytes) -> tuple[int, str, int | None]:
    """(partition, queue, delta seq or None for a snapshot)."""
    text = key.decode()
    partition, rest = text.split("/", 1)
    if rest.endswith("/s"):
        return int(partition), rest[:-2], None
    queue, _, seq = rest.rpartition("/d/")
    return int(partition), queue, int(seq)


class QueueStateStore:
    """Owns the mapping between the engine's in-memory state and the changelog table."""

    def __init__(self, table: ChangelogTable, engine: KpiEngine) -> None:
        self.table = table
        self.engine = engine
        self.partition_of: dict[str, int] = {}
        self._seq: dict[str, int] = defaultdict(int)
        self._deltas: dict[str, list[int]] = defaultdict(list)
        self.dirty: set[str] = set()
        self.last_rebuild: tuple[int, int] = (0, 0)
        """(snapshots, delta records) read by the last :meth:`rebuild`, for its log line."""

    def put(self, partition: int, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.table.data.pop(key, None)
        else:
            self.table.data[key] = value
        self.table.send_changelog(partition, key, value)

    def write_deltas(self, applied: dict[str, Delta]) -> None:
        """One record per touched queue: the raw events of this batch, with their positions."""
        for queue, events in applied.items():
            partition = events[0][1]
            self.partition_of[queue] = partition
            seq = self._seq[queue] = self._seq[queue] + 1
            self.put(partition, delta_key(partition, queue, seq), _delta_encoder.encode(events))
            self._deltas[queue].append(seq)
            self.dirty.add(queue)

    def write_snapshots(self, queues: Iterable[str] | None = None) -> int:
        """Snapshot each dirty queue, then delete the deltas the snapshot now contains."""
        written = 0
        for queue in list(self.dirty if queues is None else queues):
            state = self.engine.queues.get(queue)
            partition = self.partition_of.get(queue)
            if state is None or partition is None:
                continue
            self.put(partition, snapshot_key(partition, queue), encode_state(state))
            for seq in self._deltas.pop(queue, []):
                self.put(partition, delta_key(partition, queue, seq), None)
            self.dirty.discard(queue)
            written += 1
        return written

    def rebuild(self, partitions: set[int]) -> list[str]:
        """Rebuild the engine's state for ``partitions`` from the recovered table."""
        snapshots: dict[str, bytes] = {}
        deltas: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
        owners: dict[str, int] = {}
        for key, value in list(self.table.data.items()):
            if key.endswith(b"/a"):
                continue  # a queue's alert state: restored by streams/alert_runtime.py
            partition, queue, seq = _parse_key(key)
            if partition not in partitions or value is None:
                continue
            owners[queue] = partition
            if seq is None:
                snapshots[queue] = value
            else:
                deltas[queue].append((seq, value))
        for queue, partition in owners.items():
            if queue in snapshots:
                self.engine.queues[queue] = decode_state(snapshots[queue])
            else:
                self.engine.queues.pop(queue, None)
            ordered = sorted(deltas.get(queue, []))
            self.engine.apply(_replay_events(ordered))
            self.partition_of[queue] = partition
            self._seq[queue] = ordered[-1][0] if ordered else 0
            self._deltas[queue] = [seq for seq, _ in ordered]
        self.last_rebuild = (
            sum(q in snapshots for q in owners),
            sum(len(deltas.get(q, [])) for q in owners),
        )
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
            self._deltas.pop(queue, None)
            self._seq.pop(queue, None)
            self.dirty.discard(queue)
        return gone


def _replay_events(ordered: list[tuple[int, bytes]]) -> Iterator[tuple[Event, Position]]:
    for _, value in ordered:
        for topic, partition, offset, raw in _delta_decoder.decode(value):
            event = decode_event(raw)
            if not isinstance(event, DecodeFailure):  # deltas only ever hold decoded events
                yield event, Position(topic, partition, offset)
