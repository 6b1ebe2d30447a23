"""Admit a partition's records to the engine only in offset order, from the committed offset on.

The engine's idempotency (processors/engine.py) skips any record at or below the highest offset
already applied from its partition, which is exact as long as each partition's records reach it
in offset order. One worker consumes every record of a partition it owns (all queues hashed to
it), so from the committed offset on the offsets it sees are normally contiguous: after a
re-delivery they go back (harmless: the engine skips what it applied).

A jump ahead has been seen right after a rebalance on the embedded broker: the new owner was
handed a run of records from near the end of the partition, then Faust sought back to the
committed offset and delivered the rest in order. Applied, those records would have moved the
queue's applied offset past hundreds of records not yet applied, and the engine would then have
skipped them all as re-deliveries. So a record whose offset is past the next expected one is
held back (counted, logged once per episode) in a bounded per-partition buffer, and not applied
yet; when the consumer goes back to the expected offset the buffer is discarded, since those
records come again in their turn.

Offsets are not always contiguous though: on Apache Kafka the control markers of a
transactional producer take offsets, retention may have deleted the committed offset, and once
on the embedded broker a takeover started one record late and never delivered the skipped one.
Holding back for good would freeze the partition. So a hold is bounded: if the consumer has not
gone back within ``hold_seconds``, or the buffer reaches ``max_held`` records, the gap is
accepted (recorded in :attr:`PartitionOrder.gaps`: the agent logs a warning and counts
``ccpulse_offset_gaps_total``), the expected offset moves past it and the buffered records are
released in offset order, each exactly once. The time is only looked at when :meth:`admit`
runs, so a hold that has timed out is released at the start of the next batch (of any
partition), before that batch's records; a buffer that reaches its bound is released at once.
The hold must outlast a consumer's going back: a run released before it would make the engine
skip the records in between as re-deliveries (docs/deploy.md#exact-counts-across-crashes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

__all__ = ["DEFAULT_HOLD_SECONDS", "DEFAULT_MAX_HELD", "PartitionOrder"]

DEFAULT_HOLD_SECONDS = 5.0
DEFAULT_MAX_HELD = 10_000
"""Records buffered per holding partition before its gap is accepted (memory bound)."""


class _Record(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=_Record)
Committed = Callable[[tuple[str, int]], "int | None"]


@dataclass
class _Hold:
    """One partition's hold: since when, from which expected offset, what it buffered."""

    started: float
    expected: int
    records: dict[int, Any] = field(default_factory=dict)
    """Buffered records (of the type given to :meth:`PartitionOrder.admit`) by offset; a record
    delivered twice during the hold is kept once."""


class PartitionOrder:
    """The next offset expected per (topic, partition) since the partition was assigned.

    ``committed`` gives a partition's committed offset (None before the group's first commit);
    ``hold_seconds`` and ``max_held`` bound a hold; ``clock`` (seconds, monotonic) is injectable
    for tests.
    """

    def __init__(
        self,
        committed: Committed,
        *,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
        max_held: int = DEFAULT_MAX_HELD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if hold_seconds < 0 or max_held < 1:
            raise ValueError("hold_seconds must be >= 0 and max_held >= 1")
        self._committed = committed
        self._hold_seconds = hold_seconds
        self._max_held = max_held
        self._clock = clock
        self._next: dict[tuple[str, int], int] = {}
        self._holds: dict[tuple[str, int], _Hold] = {}
        self.held_back: list[tuple[str, int, int, int]] = []
        """(topic, partition, expected, first offset) each time a partition starts holding
        records back (logged once per episode, not per record)."""
        self.held_count: dict[str, int] = {}
        """Records held back per topic since last read (for the counter)."""
        self.gaps: list[tuple[str, int, int, int, int]] = []
        """(topic, partition, expected, first offset, skipped offsets) each time a hold ends
        by accepting the gap, since last read (for the warning and the counter)."""

    def holding(self) -> dict[tuple[str, int], int]:
        """Records buffered per partition now holding back."""
        return {key: len(hold.records) for key, hold in self._holds.items()}

    def forget(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Forget revoked partitions (all by default): a new assignment starts afresh from the
        committed offset, and their buffered records are dropped (the new owner, or this
        worker again, is delivered them from the committed offset on)."""
        if partitions is None:
            self._next.clear()
            self._holds.clear()
        else:
            for key in partitions:
                self._next.pop(key, None)
                self._holds.pop(key, None)

    def admit(self, records: Iterable[R]) -> Iterator[R]:
        """The records that may be applied, in their order; the others are held back.

        First, holds older than ``hold_seconds`` accept their gap and release their buffered
        records (offset order). Then each record: at or below the expected offset it is applied
        (a go-back ends its partition's hold and discards the buffer: those records come again);
        ahead of it, it is buffered, and a buffer reaching ``max_held`` accepts its gap at once.
        """
        holds = self._holds
        if holds:
            now = self._clock()
            for key in [k for k, h in holds.items() if now - h.started >= self._hold_seconds]:
                yield from self._accept_gap(key)
        expected_of = self._next
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
                hold = holds.get(key)
                if hold is None:
                    hold = holds[key] = _Hold(self._clock(), expected)
                    self.held_back.append((record.topic, record.partition, expected, offset))
                hold.records.setdefault(offset, record)
                if len(hold.records) >= self._max_held:
                    yield from self._accept_gap(key)
                continue
            if holds:
                holds.pop(key, None)
            expected_of[key] = offset + 1
            yield record

    def _accept_gap(self, key: tuple[str, int]) -> Iterator[Any]:
        """End ``key``'s hold: record the gap, move past it, release the buffer in order."""
        hold = self._holds.pop(key)
        offsets = sorted(hold.records)
        first, last = offsets[0], offsets[-1]
        skipped = last - hold.expected + 1 - len(offsets)
        self.gaps.append((key[0], key[1], hold.expected, first, skipped))
        self._next[key] = last + 1
        for offset in offsets:
            yield hold.records[offset]
