"""Reads, straight from Kafka, what a partition's consumer stopped delivering, and un-sticks
commits that stopped moving (the watches are streams/worker/stalls.py).

Called once a second (``STALL_CHECK_SECONDS``) by the worker's timer; every read and catch-up
happens under the checkpoint's lock, and only while the worker owns the partition and no
rebalance is under way (docs/deploy.md, rule 5).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from streams.logs import log
from streams.worker.checkpoint import DELIVERY_WAIT_SECONDS, Checkpoint
from streams.worker.ordering import Plan
from streams.worker.source import PartitionKey
from streams.worker.stalls import Behind, StallWatch

__all__ = ["STALL_CHECK_SECONDS", "StallReader"]

logger = logging.getLogger("ccpulse.worker")

STALL_CHECK_SECONDS = 1.0


class StallReader:
    """The three stall watches of one worker and what it does when one fires."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.source = checkpoint.source
        self.order = checkpoint.order
        self.store = checkpoint.store
        worker = checkpoint.worker
        self.batch_max_events = worker.batch_max_events
        self.stalled_seconds = worker.stalled_partition_seconds
        self.stopped_seconds = worker.stopped_partition_seconds
        self.dropped = StallWatch(worker.stalled_partition_seconds)
        """Records the consumer handed over that never reached the checkpoint."""
        self.stopped = StallWatch(worker.stopped_partition_seconds)
        """Partitions behind their highwater the consumer hands nothing of."""
        self.commits = StallWatch(worker.stalled_partition_seconds)
        """Partitions whose committed offset stays below what was applied."""

    def still_owned(self, key: PartitionKey) -> bool:
        """No rebalance going on and ``key`` still assigned (checked again once the lock is
        held: the batch that held it may have ended with a revocation)."""
        return self.checkpoint.settled() and key in self.source.highwaters()

    async def check(self) -> None:
        """Apply, straight from Kafka, what a partition's stream stopped delivering, and let
        the consumer commit what was applied (streams/worker/stalls.py)."""
        source, order = self.source, self.order
        if source.rebalancing or not self.checkpoint.runtime.ready:
            for watch in (self.dropped, self.stopped, self.commits):
                watch.reset()
            return
        now = time.monotonic()
        highwaters = source.highwaters()
        expected = {key: order.expected(key) for key in highwaters}
        uncommitted = {
            key: Behind(source.committed(key) or 0, expected[key], expected[key])
            for key in highwaters
        }
        for key in self.commits.stalled(uncommitted, now):
            if not await self.catch_up_commit(key):
                return  # revoked meanwhile: nothing more to check until the next assignment
        handed = {key: source.handed_over(key, hw) for key, hw in highwaters.items()}
        # Records the consumer handed over that were never applied (cleared at a rebalance).
        for key in self.dropped.stalled({k: Behind(expected[k], handed[k]) for k in handed}, now):
            await self.read_missing(
                key,
                handed[key],
                "records Faust handed over never reached the agent",
                handed_over_through=handed[key] - 1,
                seconds=self.stalled_seconds,
            )
        # Records the consumer does not hand over at all: seen twice on a worker restarted
        # after a SIGKILL, which delivered nothing for the 90 s its test waited.
        behind = {k: Behind(expected[k], hw, handed[k]) for k, hw in highwaters.items()}
        for key in self.stopped.stalled(behind, now):
            await self.read_missing(
                key,
                highwaters[key],
                "Faust has handed over none of its records for a while",
                highwater=highwaters[key],
                seconds=self.stopped_seconds,
            )

    async def read_missing(self, key: PartitionKey, end: int, why: str, **fields: Any) -> None:
        """Read and apply a partition's records from its expected offset up to ``end`` (at
        most a batch), under the checkpoint's lock, unless a rebalance got in the way."""
        checkpoint, order = self.checkpoint, self.order
        async with checkpoint.lock:
            generation = self.source.generation
            if not self.still_owned(key):
                return
            gap = order.tail(key, min(end, order.expected(key) + self.batch_max_events))
            if gap is None:
                return
            log(
                logger,
                f"partition stalled: {why}; reading its records straight from Kafka",
                logging.WARNING,
                topic=gap.topic,
                partition=gap.partition,
                first_offset=gap.start,
                end_offset=gap.end,
                **fields,
            )
            planned = await checkpoint.read_gaps(Plan[Any]([gap], [gap]))
            if self.source.rebalancing or self.source.generation != generation:
                # Revoked while reading: the next owner reads these records itself.
                order.forget([key])
                return
            checkpoint.apply(planned, [gap], [])
            checkpoint.changelog_due.set()

    async def catch_up_commit(self, key: PartitionKey) -> bool:
        """Mark committable the offsets of a partition the checkpoint has applied (every
        offset below its expected one) but the consumer has not committed for a while, so that
        it commits them (streams/worker/stalls.py). Under the lock, once what was staged is
        flushed and every record written is in Kafka: then every planned record is applied
        and its changelog delta is in Kafka. False: ``key`` is not owned any more."""
        # Under the lock: a batch being planned and applied has moved the expected offset
        # past records it has not applied yet.
        async with self.checkpoint.lock:
            if not self.still_owned(key):
                return False
            behind = Behind(self.source.committed(key) or 0, self.order.expected(key))
            if behind.position >= behind.target:
                return True
            # Every applied record's delta (and what it produced) in Kafka first: the marks
            # below stand for all of them.
            self.store.flush()
            delivered = await self.store.all_delivered(DELIVERY_WAIT_SECONDS)
            if not (delivered and self.still_owned(key)):
                return True
            added, duplicates = self.source.mark_caught_up(key, behind.position, behind.target)
        log(
            logger,
            "applied offsets not committed for a while: acked for Faust to commit",
            logging.WARNING,
            topic=key[0],
            partition=key[1],
            committed=behind.position,
            applied_through=behind.target - 1,
            newly_acked=added,
            duplicate_acks_dropped=duplicates,
        )
        return True
