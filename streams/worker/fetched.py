"""Source records fetched and not yet applied: the buffer between the consumer and the checkpoint.

The worker's consumer (streams/faust_adapter/batch_fetch.py) puts each fetch here, one run per
partition; the checkpoint (streams/worker/checkpoint.py) takes them a batch at a time. Nothing
here knows Faust: records are whatever the consumer fetched (aiokafka ``ConsumerRecord``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Collection
from typing import Any

__all__ = ["FetchedBatches", "PartitionRun"]


PartitionRun = list[Any]
"""Records of one partition in offset order, as fetched (aiokafka ``ConsumerRecord``)."""


class FetchedBatches:
    """Source records fetched and not yet taken by the checkpoint, oldest first, in runs.

    Filled by the drain loop, emptied by the checkpoint (:meth:`wait`, then :meth:`pop`
    under its lock) and by the shutdown hook; :meth:`clear` on
    revocation drops what a former assignment fetched, as Faust clears its stream queues.
    Records of one fetch carry the consumer generation they were fetched in, so the checkpoint
    can drop a batch that a rebalance overtook.
    """

    def __init__(self, topics: Collection[str], max_buffered: int) -> None:
        self.topics = frozenset(topics)
        self.max_buffered = max_buffered
        """Above this many records the drain loop waits for the checkpoint (back-pressure)."""
        self._fetches: deque[tuple[int | None, list[PartitionRun]]] = deque()
        self._count = 0
        self._filled = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self.polls = 0
        """Fetches the drain loop asked for (diagnostics: is it running?)."""
        self.others_handed_over = 0
        """Records of other topics (the changelog while it recovers) handed to Faust."""

    def __len__(self) -> int:
        return self._count

    def put(self, runs: list[PartitionRun], generation: int | None) -> None:
        """Buffer one fetch: a run of records per partition."""
        self._fetches.append((generation, runs))
        self._count += sum(map(len, runs))
        self._filled.set()
        if self._count > self.max_buffered:
            self._drained.clear()

    async def wait_for_room(self) -> None:
        await self._drained.wait()

    async def wait(self, max_records: int, within_seconds: float) -> None:
        """Wait for a fetch, then for up to ``within_seconds`` more while fewer than
        ``max_records`` records are buffered (larger batches: fewer changelog writes)."""
        while not self._fetches:
            self._filled.clear()
            await self._filled.wait()
        deadline = asyncio.get_running_loop().time() + within_seconds
        while self._count < max_records:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            self._filled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._filled.wait(), left)

    def pop(self, max_records: int) -> tuple[int | None, list[PartitionRun]] | None:
        """The oldest fetched runs of one generation, at most ``max_records`` records in all
        (a run is split if need be; None: nothing is buffered). Not async: whoever holds the
        checkpoint's lock pops and applies in one go, so a revocation or shutdown never finds
        records popped but not applied."""
        if not self._fetches:
            return None
        generation = self._fetches[0][0]
        taken: list[PartitionRun] = []
        count = 0
        while self._fetches and count < max_records:
            next_generation, runs = self._fetches[0]
            if next_generation != generation:
                break
            self._fetches.popleft()
            for index, run in enumerate(runs):
                room = max_records - count
                if len(run) > room:
                    # The rest of the fetch goes back, to be taken first next time.
                    rest = runs[index:]
                    if room:
                        taken.append(run[:room])
                        count += room
                        rest[0] = run[room:]
                    self._fetches.appendleft((generation, rest))
                    break
                taken.append(run)
                count += len(run)
        self._taken(count)
        return generation, taken

    def clear(self) -> int:
        """Drop every buffered record; how many."""
        dropped = self._count
        self._fetches.clear()
        self._taken(dropped)
        return dropped

    def _taken(self, count: int) -> None:
        self._count -= count
        if self._count <= self.max_buffered:
            self._drained.set()
