"""Give the engine each partition's records in offset order, each once, with no hole.

The engine's idempotency (processors/engine.py) skips any record at or below the highest offset
already applied from its partition, which is exact as long as each partition's records reach it
in offset order and none is missing. One worker consumes every record of a partition it owns
(all queues hashed to it), so from the committed offset on the offsets it sees are normally
contiguous. Right after a rebalance they were not, in the fault tests on the embedded broker:
Faust delivers records of a new assignment before it seeks the partitions to their committed
offsets, so a new owner's first records were sometimes far ahead of the committed offset
(before Faust went back) or one past it (and the skipped record never came). The checkpoint
now waits for the seek before it plans a partition's first batch
(:meth:`streams.worker.checkpoint.Checkpoint.take_fetch`), so it knows
where each partition resumes; records ahead of that still arrive after the seek at times
(gaps of 1 to 1,327 records in the test runs, when Faust's stream delivered them: it cleared
its stream queues when it resumed flow, right after the seek; the worker drops the records it
fetched and had not applied at a revocation the same way, streams/faust_adapter/batch_fetch.py),
and the
read position is past them. A hole with no later record to reveal it is found by
streams/worker/stalls.py. This module makes any such case exact:

:class:`PartitionOrder`: for each record it knows the partition's next expected
offset (from the committed offset, at the first record after an assignment). A record behind
it was already applied in this assignment, or is below the committed offset (applied by an
earlier owner), and is dropped: the engine would skip it anyway, and dropping it also keeps its
dead letter or re-keyed copy from being sent twice. A record ahead of it is preceded, in the
planned batch, by a :class:`Gap` naming the missing offsets, which the checkpoint reads directly
from Kafka (streams/worker/gap_fill.py) before it applies the batch. No hold, no timer, nothing
buffered: the batch waits only for that one fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Gap", "PartitionOrder", "Plan", "consecutive"]


class _Record(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=_Record)
_offset_of = attrgetter("offset")


def consecutive(records: Sequence[Any], first: int) -> bool:
    """Whether ``records`` hold exactly the offsets ``first``, ``first + 1``... in that order
    (compared in C: this runs for every record the worker applies)."""
    return list(map(_offset_of, records)) == list(range(first, first + len(records)))


Committed = Callable[[tuple[str, int]], "int | None"]


@dataclass(frozen=True, slots=True)
class Gap:
    """Offsets ``start`` (included) to ``end`` (excluded) of a partition were not delivered
    before the record at ``end``."""

    topic: str
    partition: int
    start: int
    end: int


@dataclass(slots=True)
class Plan(Generic[R]):
    """A batch as the engine must see it."""

    items: list[Sequence[R] | Gap]
    """Runs of records (one partition's, consecutive offsets) in their order, each gap before
    the run that follows it."""
    gaps: list[Gap]
    """The gaps among ``items``, in the same order."""


class PartitionOrder:
    """The next offset expected per (topic, partition) since the partition was assigned.

    ``committed`` gives a partition's resume offset. None means nothing was ever committed or
    applied from it: the partition is read from its start, so a first record delivered ahead
    of offset 0 is preceded by the gap before it (the gap reader starts at the log start if
    retention deleted the first offsets).
    """

    def __init__(self, committed: Committed) -> None:
        self._committed = committed
        self._next: dict[tuple[str, int], int] = {}
        self.redelivered: dict[str, int] = {}
        """Records dropped as already applied, per topic, since last read (for the counter)."""

    def forget(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Forget revoked partitions (all by default): a new assignment starts afresh from the
        committed offset."""
        if partitions is None:
            self._next.clear()
        else:
            for key in partitions:
                self._next.pop(key, None)

    def expected(self, key: tuple[str, int]) -> int:
        """The next offset ``key`` (topic, partition) must deliver: one past the last planned
        record, or the partition's resume offset if none was planned since the assignment."""
        expected = self._next.get(key)
        if expected is None:
            committed = self._committed(key)
            expected = 0 if committed is None else committed
        return expected

    def tail(self, key: tuple[str, int], end: int) -> Gap | None:
        """The :class:`Gap` from the expected offset up to ``end`` (excluded), for a partition
        whose records stopped arriving (streams/worker/stalls.py); None if nothing is missing. The
        expected offset moves to ``end``: the caller reads and applies the gap before anything
        else of the partition is planned."""
        start = self.expected(key)
        if start >= end:
            return None
        self._next[key] = end
        return Gap(key[0], key[1], start, end)

    def plan(self, runs: Iterable[Sequence[R]]) -> Plan[R]:
        """``runs`` (each one partition's records, in offset order) in their order, without
        re-deliveries, each record that jumped ahead of its partition's next expected offset
        preceded by the :class:`Gap` before it.

        The expected offset moves past every record planned (the gap's records are read before
        the batch is applied, so they count as delivered).
        """
        planned: list[Sequence[R] | Gap] = []
        gaps: list[Gap] = []
        expected_of = self._next
        for run in runs:
            if not run:
                continue
            key = (run[0].topic, run[0].partition)
            first = run[0].offset
            # A run of consecutive offsets from the expected one is planned whole: the usual
            # case, checked in C.
            if expected_of.get(key) == first and consecutive(run, first):
                planned.append(run)
                expected_of[key] = first + len(run)
            else:
                self._plan_one_by_one(key, run, planned, gaps)
        return Plan(planned, gaps)

    def _plan_one_by_one(
        self,
        key: tuple[str, int],
        run: Sequence[R],
        planned: list[Sequence[R] | Gap],
        gaps: list[Gap],
    ) -> None:
        expected_of = self._next
        current: list[R] = []
        for record in run:
            offset = record.offset
            expected = expected_of.get(key)
            if expected is None:
                expected = min(self.expected(key), offset)
            if offset < expected:
                self.redelivered[record.topic] = self.redelivered.get(record.topic, 0) + 1
                continue
            if offset > expected:
                gap = Gap(record.topic, record.partition, expected, offset)
                if current:
                    planned.append(current)
                    current = []
                planned.append(gap)
                gaps.append(gap)
            expected_of[key] = offset + 1
            current.append(record)
        if current:
            planned.append(current)
