"""Admit a partition's records to the engine only in offset order, from the committed offset on.

The engine's idempotency (processors/engine.py) skips any record at or below the highest offset
already applied from its partition, which is exact as long as each partition's records reach it
in offset order. One worker consumes every record of a partition it owns (all queues hashed to
it), so from the committed offset on the offsets it sees must be contiguous: after a re-delivery
they go back (harmless: the engine skips what it applied), but they never jump ahead.

A jump ahead has been seen right after a rebalance on the embedded broker: the new owner was
handed one record from near the end of the partition, then Faust sought back to the committed
offset and delivered the rest in order. Applied, that one record would have moved the queue's
applied offset past hundreds of records not yet applied, and the engine would then have
skipped them all as re-deliveries. So a record whose offset is past the next expected one is
held back (not applied, counted, logged); the consumer delivers it again in its turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

__all__ = ["PartitionOrder"]


class _Record(Protocol):
    topic: str
    partition: int
    offset: int


R = TypeVar("R", bound=_Record)
Committed = Callable[[tuple[str, int]], "int | None"]


class PartitionOrder:
    """The next offset expected per (topic, partition) since the partition was assigned."""

    def __init__(self, committed: Committed) -> None:
        self._committed = committed
        self._next: dict[tuple[str, int], int] = {}
        self._holding: set[tuple[str, int]] = set()
        self.held_back: list[tuple[str, int, int, int]] = []
        """(topic, partition, expected, first offset) each time a partition starts holding
        records back (logged once per episode, not per record)."""
        self.held_count: dict[str, int] = {}
        """Records held back per topic since last read (for the counter)."""

    def forget(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Forget revoked partitions (all by default): a new assignment starts afresh."""
        if partitions is None:
            self._next.clear()
            self._holding.clear()
        else:
            for key in partitions:
                self._next.pop(key, None)
                self._holding.discard(key)

    def admit(self, records: Iterable[R]) -> Iterator[R]:
        """The records that may be applied, in their order; the others are held back.

        Records ahead of the next expected offset are never applied; the consumer delivers them
        again in their turn once it has gone back to the expected offset, which is what was
        observed every time. A partition whose committed offset has been deleted by retention
        would be held back for good instead (visible: lag, ``ccpulse_events_held_back_total``,
        a warning): reset the group's offsets there (docs/deploy.md).
        """
        expected_of = self._next
        holding = self._holding
        for record in records:
            key = (record.topic, record.partition)
            offset = record.offset
            expected = expected_of.get(key)
            if expected is None:
                # First record since the assignment: the committed offset is where it must start
                # (unknown before the group's first commit: then the first record is the start).
                committed = self._committed(key)
                expected = offset if committed is None or committed > offset else committed
                expected_of[key] = expected
            if offset > expected:
                self.held_count[record.topic] = self.held_count.get(record.topic, 0) + 1
                if key not in holding:
                    holding.add(key)
                    self.held_back.append((record.topic, record.partition, expected, offset))
                continue
            if holding:
                holding.discard(key)
            expected_of[key] = offset + 1
            yield record
