"""Persisting per-queue KPI state in a Faust table: a snapshot plus the batches applied since.

Writing a queue's whole state after every batch would cost as much as the state (an hour of
per-second panes for a busy queue is ~100 kB); writing per event is what makes naive Faust agents
slow. Instead, each applied batch is *staged* (:meth:`QueueStateStore.stage`), and a flush
writes, per source partition, *delta* records holding the raw events applied since the last
flush with their source positions (column by column, per run of one source partition: its
offsets, its values and the queues they belong to); every ``snapshot_interval`` one *snapshot* per
changed queue follows, after which a delta whose queues all have a newer snapshot is deleted
(tombstoned). Records per partition, not per queue or per batch: a batch touches most queues of
a busy centre, and each record is a producer send (on the embedded broker, a request of its
own), so per-queue deltas made the producer the worker's bottleneck (``make bench``, issue 7).

Recovery = decode each queue's snapshot, then re-apply the deltas in order. Re-applying is safe
because the engine skips any position it has already applied (the snapshot carries the last
offset per partition), so a crash between writing a snapshot and deleting deltas neither loses
nor double-counts an event.

Keys carry their partition (streams/worker/changelog_records.py) and every record is sent to the
changelog partition of the events it came from: a batch mixes partitions, so Faust's "partition
of the current event" would be wrong. The table is therefore written through
:meth:`QueueStateStore.put` and never with ``table[key] = value``. A snapshot too large for one
record is written in parts (streams/worker/snapshot_parts.py). Nothing that depends on a record
being
in Kafka (acking offsets, deleting what a snapshot covers) is done before it is
(streams/worker/delivery.py).
"""

from __future__ import annotations

import asyncio
import math
import zlib
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, Protocol

from processors.engine import KpiEngine
from processors.state import decode_state, encode_state
from streams.worker.batching import AppliedRun
from streams.worker.changelog_records import (
    Replay,
    delta_decoder,
    delta_key,
    parse_key,
    queue_delta_decoder,
    records_of,
    replay_events,
    runs_of_old,
    snapshot_key,
)
from streams.worker.delivery import Deliveries
from streams.worker.snapshot_parts import (
    assemble,
    new_generation,
    parse_part_key,
    part_key,
    read_manifest,
    snapshot_values,
)

__all__ = ["QueueStateStore", "delta_key", "snapshot_key"]


class ChangelogTable(Protocol):
    """What we need of a Faust table: its local data and an explicit-partition changelog send."""

    data: MutableMapping[Any, Any]

    def send_changelog(
        self, partition: int | None, key: Any, value: Any, *a: Any, **k: Any
    ) -> Any: ...


class QueueStateStore:
    """Owns the mapping between the engine's in-memory state and the changelog table."""

    def __init__(
        self,
        table: ChangelogTable,
        engine: KpiEngine,
        on_failure: Callable[[BaseException], object] | None = None,
    ) -> None:
        self.table = table
        self.engine = engine
        self.deliveries = Deliveries(on_failure or (lambda error: None))
        """Records written and not yet in Kafka; a failed one calls ``on_failure`` (the worker
        stops: nothing that depends on it is acked or deleted, streams/worker/delivery.py)."""
        self.partition_of: dict[str, int] = {}
        self._seq: dict[int, int] = {}
        """Per partition, the last delta sequence number written or recovered."""
        self._unsnapshotted: dict[bytes, tuple[int, set[str]]] = {}
        """Per live delta key: its partition and the queues it holds that have no newer
        snapshot in Kafka yet (it is deleted once that set is empty)."""
        self.dirty: set[str] = set()
        self._staged: dict[int, list[AppliedRun]] = {}
        """Per source partition, the runs of events applied and not yet written."""
        self._staged_acks: list[Callable[[], object]] = []
        """What acks the offsets of the staged batches (run once the flush that writes them is
        in Kafka)."""
        self._staged_sent: list[asyncio.Future[Any] | None] = []
        """Other records the staged batches sent (dead letters, re-keyed and forwarded events):
        their offsets are acked only once these are in Kafka too."""
        self._staged_events = 0
        self._slot: dict[str, int] = {}
        """Per queue, the interval slot of its last periodic snapshot (write_due_snapshots)."""
        self._parts: dict[str, tuple[int, str, int]] = {}
        """Per queue whose snapshot is in parts: (partition, generation, parts) of the parts its
        manifest names (streams/worker/snapshot_parts.py); deleted once a newer snapshot is in
        Kafka."""
        self.last_rebuild: tuple[int, int] = (0, 0)
        """(snapshots, delta records) read by the last :meth:`rebuild`, for its log line."""

    def put(
        self, partition: int, key: bytes, value: bytes | None, events: int = 0
    ) -> asyncio.Future[Any] | None:
        """Write ``key`` to the table and its changelog; the future that is done once the broker
        has the record (None: the table's send returns none, the record is taken as in Kafka).
        ``events``: how many applied events the record holds (:meth:`backlog`)."""
        if value is None:
            self.table.data.pop(key, None)
        else:
            self.table.data[key] = value
        return self.deliveries.track(self.table.send_changelog(partition, key, value), events)

    async def delivered(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until every delta record written so far is in Kafka.

        The flush task waits here before it writes what was staged since: while a flush's
        changelog records are on their way, the next batches' deltas gather into one record
        per partition instead of one per batch (group commit). A fast broker costs no wait; a
        slow one (the embedded broker sends one record per request) gets fewer, larger records
        instead of a growing backlog. Batches are applied meanwhile: the wait delays their
        changelog records and the commit of their offsets, not their KPIs (applying only after
        the wait put up to a second of it into the freshness benchmark's latency), until the
        backlog passes a bound (:meth:`backlog`)."""
        await self.deliveries.wait(timeout)

    async def make_room(self, limit: int, timeout: float) -> None:
        """Until at most ``limit`` events are applied and not in Kafka: write what is staged and
        wait (``timeout`` at a time) for what is on its way."""
        while self.backlog() > limit:
            if self.staged:
                self.flush()
            await self.delivered(timeout)

    def backlog(self) -> int:
        """Events applied and not yet in Kafka: staged, or written and on their way. The batch
        task stops applying while this is above its bound: a worker draining a backlog faster
        than the broker takes its changelog would otherwise hold it all."""
        return self._staged_events + self.deliveries.in_flight()

    def stage(
        self,
        applied: Iterable[AppliedRun],
        acks: Callable[[], object] | None = None,
        sent: Iterable[asyncio.Future[Any] | None] = (),
    ) -> None:
        """Hold a batch's deltas (its runs of events handed to the engine, with their positions),
        what acks its source offsets and the other records it sent (``sent``), until the next
        :meth:`flush`.

        The batch is applied and its KPIs are visible at once; writing its changelog record
        can wait for the records of the last flush to be in Kafka (a group commit, see
        :meth:`delivered`). Its offsets are acked only once its deltas and ``sent`` are in
        Kafka: Faust commits only acked offsets, so an offset is never committed before what
        it produced is in Kafka."""
        staged = self._staged
        partition_of = self.partition_of
        for run in applied:
            partition = run.partition
            held = staged.get(partition)
            if held is None:
                staged[partition] = [run]
            else:
                held.append(run)
            self._staged_events += len(run.offsets)
            # Known at once, not at the flush: a revocation before it must still find the
            # queue's state to forget, and the alerts the partition to persist to.
            for queue in run.queues:
                partition_of[queue] = partition
        if acks is not None:
            self._staged_acks.append(acks)
        self._staged_sent.extend(sent)

    @property
    def staged(self) -> bool:
        """Whether deltas or acks are held for the next :meth:`flush`."""
        return bool(self._staged or self._staged_acks)

    def flush(self) -> int:
        """Send the held deltas, one record per source partition, and ack their offsets once
        those records (and the others the batches sent) are in Kafka; how many records were
        sent."""
        staged, acks, futures = self._staged, self._staged_acks, self._staged_sent
        self._staged, self._staged_acks, self._staged_sent, self._staged_events = {}, [], [], 0
        sent = 0
        for partition, runs in staged.items():
            for value, queues, count in records_of(runs):
                seq = self._seq[partition] = self._seq.get(partition, 0) + 1
                key = delta_key(partition, seq)
                futures.append(self.put(partition, key, value, count))
                self._unsnapshotted[key] = (partition, queues)
                self.dirty.update(queues)
                sent += 1
        if acks:
            self.deliveries.then(futures, lambda: _run_all(acks))
        return sent

    def drop_staged(self) -> None:
        """Forget what is held, unsent and unacked (partitions revoked: their new owner reads
        those records again, and skips what the snapshots written at revocation hold)."""
        self._staged, self._staged_acks, self._staged_sent, self._staged_events = {}, [], [], 0

    async def all_delivered(self, timeout: float | None) -> bool:
        """Wait (at most ``timeout``) until every record written so far is in Kafka; whether
        all are."""
        return await self.deliveries.wait(timeout)

    def write_snapshots(self, queues: Iterable[str] | None = None) -> int:
        """Snapshot each dirty queue; once the snapshots are in Kafka, delete the deltas they
        contain (deleted before, a delta whose snapshot then failed would be lost)."""
        written: set[str] = set()
        futures = []
        for queue in list(self.dirty if queues is None else queues):
            state = self.engine.queues.get(queue)
            partition = self.partition_of.get(queue)
            if state is None or partition is None:
                continue
            futures.extend(self._put_snapshot(partition, queue, encode_state(state)))
            self.dirty.discard(queue)
            written.add(queue)
        if written:
            # The deltas written so far, as they are now: one written after this snapshot,
            # or rebuilt after a revocation, is not covered by it.
            covered = dict(self._unsnapshotted)
            self.deliveries.then(futures, lambda: self._delete_covered(covered, written))
        return len(written)

    def _put_snapshot(
        self, partition: int, queue: str, encoded: bytes
    ) -> list[asyncio.Future[Any] | None]:
        """Write one queue's snapshot: one record, or parts then their manifest when it is too
        large for one (streams/worker/snapshot_parts.py); the parts of the snapshot it replaces are
        deleted once it is in Kafka."""
        generation = new_generation()
        parts, head = snapshot_values(encoded, generation)
        sent = [
            self.put(partition, part_key(partition, queue, generation, index), part)
            for index, part in enumerate(parts)
        ]
        sent.append(self.put(partition, snapshot_key(partition, queue), head))
        replaced = self._parts.pop(queue, None)
        if parts:
            self._parts[queue] = (partition, generation, len(parts))
        if replaced is not None:
            self.deliveries.then(sent, lambda: self._delete_parts(queue, *replaced))
        return sent

    def _delete_parts(self, queue: str, partition: int, generation: str, count: int) -> None:
        for index in range(count):
            self.put(partition, part_key(partition, queue, generation, index), None)

    def _delete_covered(
        self, covered: dict[bytes, tuple[int, set[str]]], written: set[str]
    ) -> None:
        for key, entry in covered.items():
            if self._unsnapshotted.get(key) is not entry:
                continue  # deleted already, or forgotten with its partition
            partition, waiting = entry
            waiting -= written
            if not waiting:
                self.put(partition, key, None)
                del self._unsnapshotted[key]

    def write_due_snapshots(self, now: float, interval: float, most: int | None = None) -> int:
        """Snapshot each dirty queue whose turn has come: once per ``interval`` at most, each
        queue at its own phase within it (from a hash of its name), so that the encoding and
        the changelog records are spread over the interval. All at once, 100 busy queues took
        ~330 ms to encode: a stall of the event loop, and a burst of large records ahead of
        the next batch's deltas in the producer, every interval (``make bench`` freshness).
        A queue's first snapshot comes at its next turn, within ``interval``. At ``most``
        queues a call: the others due stay due for the next call, so that a caller can give
        the event loop back in between (1,000 busy queues: 33 encodings a second)."""
        due: list[str] = []
        for queue in self.dirty:
            if most is not None and len(due) >= most:
                break
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
        parts: dict[tuple[int, str, str], dict[int, bytes]] = {}
        for key, value in list(self.table.data.items()):
            if key.endswith(b"/a"):
                continue  # a queue's alert state: restored by streams/alerting/runtime.py
            part = parse_part_key(key)
            if part is not None:
                if part[0] in partitions and value is not None:
                    parts.setdefault(part[:3], {})[part[3]] = value
                continue
            partition, queue, seq = parse_key(key)
            if partition not in partitions or value is None:
                continue
            if seq is None:
                snapshots[queue] = value
                self.partition_of[queue] = partition
            elif queue:  # an earlier version's per-queue delta: before every partition delta
                old = {queue: queue_delta_decoder.decode(value)}
                deltas.append(((0, seq), key, partition, runs_of_old(old)))
            else:
                runs = delta_decoder.decode(value)
                if isinstance(runs, dict):
                    runs = runs_of_old(runs)
                deltas.append(((1, seq), key, partition, runs))
                self._seq[partition] = max(self._seq.get(partition, 0), seq)
        deltas.sort(key=lambda delta: delta[0])
        queues_of = [{q for *_, queues in runs for q in queues} for *_, runs in deltas]
        owners = set(snapshots).union(*queues_of)
        for queue in owners:
            if queue in snapshots:
                encoded = self._whole_snapshot(queue, snapshots[queue], parts)
                self.engine.queues[queue] = decode_state(encoded)
            else:
                self.engine.queues.pop(queue, None)
        for (partition, queue, generation), stale in parts.items():
            # A snapshot's parts with no manifest naming them (a crash before it was written):
            # never read, so deleted.
            for index in stale:
                self.put(partition, part_key(partition, queue, generation, index), None)
        self.engine.apply(replay_events(deltas))
        for (_, key, partition, _), queues in zip(deltas, queues_of, strict=True):
            for queue in queues:
                self.partition_of[queue] = partition
            self._unsnapshotted[key] = (partition, set(queues))
            # Snapshot these queues at the next interval, so their deltas can be deleted.
            self.dirty.update(queues)
        self.last_rebuild = (len(snapshots), len(deltas))
        return sorted(owners)

    def _whole_snapshot(
        self, queue: str, value: bytes, parts: dict[tuple[int, str, str], dict[int, bytes]]
    ) -> bytes:
        """A recovered snapshot's encoded state: the value itself, or the parts its manifest
        names (taken out of ``parts``)."""
        manifest = read_manifest(value)
        if manifest is None:
            return value
        partition = self.partition_of[queue]
        encoded = assemble(manifest, parts.pop((partition, queue, manifest.generation), {}))
        if encoded is None:
            raise RuntimeError(
                f"the changelog lacks parts of queue {queue!r}'s snapshot (generation "
                f"{manifest.generation}, {manifest.parts} parts): was it deleted by retention? "
                "The changelog topic must be compacted, never deleted by time"
            )
        self._parts[queue] = (partition, manifest.generation, manifest.parts)
        return encoded

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
            self._parts.pop(queue, None)
        for key, (partition, _) in list(self._unsnapshotted.items()):
            if partition in partitions:
                del self._unsnapshotted[key]
        for partition in partitions:
            self._seq.pop(partition, None)
        return gone


def _run_all(actions: list[Callable[[], object]]) -> None:
    for action in actions:
        action()
