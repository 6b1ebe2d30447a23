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
        self._held: dict[tuple[str, int], _Record] = {}
        self.held_back: list[tuple[str, int, int, int]] = []
        """(topic, partition, expected, offset) of every record held back since last read."""
        self.gaps: list[tuple[str, int, int, int]] = []
        """(topic, partition, expected, offset) of every real gap accepted since last read."""

    def forget(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Forget revoked partitions (all by default): a new assignment starts afresh."""
        if partitions is None:
            self._next.clear()
            self._held.clear()
        else:
            for key in partitions:
                self._next.pop(key, None)
                self._held.pop(key, None)

    def admit(self, records: Iterable[R]) -> Iterator[R]:
        """The records that may be applied, in their order; the others go to ``held_back``.

        A held-back record is dropped when the partition goes back (it comes again in its
        turn). If instead the next record follows it directly, the jump was real (the records
        before it are gone: retention, or an offset reset) and both are admitted, so a
        partition never stalls.
        """
        expected_of = self._next
        held_of = self._held
        for record in records:
            key = (record.topic, record.partition)
            offset = record.offset
            expected = expected_of.get(key)
            if expected is None:
                # First record since the assignment: the committed offset is where it must start
                # (unknown before the group's first commit: then the first record is the start).
                committed = self._committed(key)
                expected = offset if committed is None or committed > offset else committed
            if offset > expected:
                held = held_of.get(key)
                if held is not None and offset == held.offset + 1:
                    self.gaps.append((record.topic, record.partition, expected, held.offset))
                    del held_of[key]
                    expected_of[key] = offset + 1
                    yield held  # type: ignore[misc]
                    yield record
                    continue
                held_of[key] = record
                self.held_back.append((record.topic, record.partition, expected, offset))
                continue
            if held_of:
                held_of.pop(key, None)
            expected_of[key] = offset + 1
            yield record
