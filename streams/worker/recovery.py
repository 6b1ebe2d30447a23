"""What the worker does when its assignment changes or it stops: rebuild, revoke, shut down.

Faust calls these through the hooks streams/app.py connects (the table's ``on_recover``,
``on_partitions_revoked``, ``on_partitions_assigned``, ``on_before_shutdown``); each works
under the checkpoint's lock where it touches what the checkpoint applies, so that a batch is
never half applied when the assignment changes (docs/deploy.md, rules 4 and 5).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from streams.give_way import give_way
from streams.logs import log
from streams.worker.checkpoint import SHUTDOWN_DELIVERY_SECONDS, Checkpoint
from streams.worker.source import PartitionKey

__all__ = ["Recovery", "SnapshotWriter", "StateNotAssigned"]

logger = logging.getLogger("ccpulse.worker")

REVOKE_DELIVERY_SECONDS = 20.0
"""Longest wait at a revocation for the records written so far to be in Kafka."""


class StateNotAssigned(RuntimeError):
    """The assignment gave this worker source partitions without their changelog partitions."""


class Recovery:
    """The worker's answers to Faust's rebalance and shutdown hooks."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        source_topics: Iterable[str],
        flush_producer: Callable[[], Awaitable[None]],
        changelog_topic: str,
    ) -> None:
        self.changelog_topic = changelog_topic
        """The state table's changelog: its partition p holds the state of source partition p."""
        self.checkpoint = checkpoint
        self.runtime = checkpoint.runtime
        self.store = checkpoint.store
        self.source = checkpoint.source
        self.source_topics = frozenset(source_topics)
        self.flush_producer = flush_producer
        """Sends everything the producer buffered (Faust's ``app.producer.flush``)."""
        self.awaiting_assignment = False
        """Partitions were revoked and the next assignment has not arrived yet."""

    def superseded_recovery(self) -> bool:
        """Whether a table recovery finishing now belongs to a former assignment.

        Faust calls the table's recovery callbacks before it checks the generation the
        recovery was for (faust/tables/recovery.py, ``on_recovery_completed``). A recovery can
        finish after this worker's partitions were revoked for the next rebalance and before
        the next assignment arrives, or after it arrived (its recovery is then asked for and
        waits for this one to end). Rebuilt then, the worker would export queues of partitions
        another worker is being given, and become ready in the middle of a rebalance.

        Not by generation: the embedded broker gives every rebalance generation 0. The next
        assignment's recovery cannot finish before :meth:`assigned` runs: Faust asks for it
        (``Recovery.on_rebalance``) and then sends ``on_partitions_assigned`` without giving
        the event loop back in between (faust-streaming 0.15.3, ``App._on_partitions_assigned``),
        and this hook is that signal's only receiver."""
        return self.awaiting_assignment or self.source.recovery_pending()

    async def rebuild(self) -> None:
        """The table is recovered for the new assignment: rebuild its queues in the engine,
        and let the checkpoint apply again (:meth:`Checkpoint.settled`)."""
        runtime = self.runtime
        if self.superseded_recovery():
            log(
                logger,
                "table recovery of a former assignment finished: not rebuilt, the next one is",
                awaiting_assignment=self.awaiting_assignment,
                next_recovery_asked=self.source.recovery_pending(),
            )
            return
        partitions = self.source.assigned_partitions()
        started = time.monotonic()
        # Only the assigned partitions' queues are exported, whatever a former assignment left.
        self.store.forget(set(self.store.partition_of.values()) - partitions)
        queues = self.store.rebuild(partitions)
        if runtime.intervals is not None:
            runtime.intervals.publish(queues, full=True)  # what was sent and not confirmed
        runtime.ready = True
        runtime.invalidate()
        runtime.metrics.ready.set(1)
        runtime.metrics.owned_queues.set(len(runtime.engine.queues))
        snapshots, deltas = self.store.last_rebuild
        log(
            logger,
            "table recovery finished",
            partitions=_partition_list(partitions),
            queues=len(queues),
            queue_names=",".join(queues) or "-",
            snapshots=snapshots,
            deltas_replayed=deltas,
            seconds=round(time.monotonic() - started, 3),
        )

    async def revoked(self, revoked: Iterable[PartitionKey]) -> None:
        """Partitions were revoked (Faust revokes everything on a rebalance and recovers what
        it assigns afterwards): the queues of revoked partitions stop being exported now and
        are rebuilt from the table by :meth:`rebuild` if they come back to this worker."""
        runtime, store = self.runtime, self.store
        revoked = list(revoked)
        self.awaiting_assignment = True
        runtime.ready = False
        runtime.metrics.ready.set(0)
        async with self.checkpoint.lock:
            # The batch in progress is applied (or dropped) first; what is fetched and not
            # applied belongs to the old assignment: the new one reads it again.
            self.source.fetched.clear()
            # Deltas staged and not written, and their markers, belong to the old assignment
            # too: not marked committable, their records are read again by the new owner, which
            # recovers the snapshots written here (they hold those events and their offsets)
            # and skips them.
            store.drop_staged()
            store.write_snapshots()
            partitions = {partition for topic, partition in revoked if topic in self.source_topics}
            gone = store.forget(partitions)
            self.checkpoint.order.forget(revoked)
        runtime.invalidate()
        runtime.metrics.owned_queues.set(len(runtime.engine.queues))
        # The snapshots just written (and every record before them) in the changelog before
        # this rebalance completes: a new owner's own later snapshot can then never be
        # overwritten by this older one. Faust's producer flush is not enough: its buffer's
        # flush gives up after 0.1 s without a send (streams/worker/delivery.py).
        await self.flush_producer()
        if not await store.all_delivered(REVOKE_DELIVERY_SECONDS):
            log(
                logger,
                "changelog records not all in Kafka at revocation",
                logging.ERROR,
                waited_seconds=REVOKE_DELIVERY_SECONDS,
                pending=len(store.deliveries.pending()),
            )
        log(
            logger,
            "partitions revoked",
            partitions=_partition_list(partitions),
            queues_dropped=len(gone),
            queue_names=",".join(sorted(gone)) or "-",
        )

    def assigned(self, assigned: Iterable[PartitionKey]) -> None:
        """Partitions were assigned (their state comes with :meth:`rebuild`): logged.

        Raises :class:`StateNotAssigned` when a source partition comes without its changelog
        partition: its queues' state would then be rebuilt from nothing and their KPIs would
        start again from zero, silently. That happened once in ``make test``, when the group
        leader's metadata did not yet list the changelog topic another worker had just created
        ("Ignoring missing topic"): the worker now creates it before Faust starts, and this
        check stops it (Faust crashes the app on an exception here) should it happen any other
        way, such as the topic deleted by hand; a restart reads the metadata again."""
        self.awaiting_assignment = False
        assigned = list(assigned)
        partitions = {partition for topic, partition in assigned if topic in self.source_topics}
        stateless = partitions - {p for topic, p in assigned if topic == self.changelog_topic}
        if stateless:
            log(
                logger,
                "source partitions assigned without their state changelog partitions: stopping "
                "the worker rather than rebuild their queues from nothing",
                logging.CRITICAL,
                partitions=_partition_list(stateless),
                changelog=self.changelog_topic,
            )
            raise StateNotAssigned(
                f"source partitions {_partition_list(stateless)} assigned without their "
                f"partitions of {self.changelog_topic}"
            )
        log(
            logger,
            "partitions assigned",
            partitions=_partition_list(partitions),
            topics=",".join(sorted(self.source_topics)),
            generation=self.source.generation,
        )

    async def shut_down(self) -> None:
        """Graceful shutdown. Faust has already (on SIGTERM / stop): stopped fetching, waited
        for its agent and flushed the producer. What it cannot know: the state lives in the
        engine, and source records bypass its streams (streams/faust_adapter/batch_fetch.py).
        So what is fetched and not applied yet is applied and committed first
        (:meth:`Checkpoint.commit_remaining`), then every queue with unsaved deltas is
        snapshotted, so the next owner recovers from one record per queue. Faust flushes the
        producer right after this hook and the consumer leaves the group when it stops."""
        runtime, store = self.runtime, self.store
        finished = await self.checkpoint.commit_remaining()
        written = store.write_snapshots()
        # In Kafka before Faust's last flush, so that the deltas they cover are deleted too.
        await store.all_delivered(SHUTDOWN_DELIVERY_SECONDS)
        runtime.ready = False
        runtime.metrics.ready.set(0)
        await self.checkpoint.gaps.stop()
        if runtime.intervals is not None:
            await runtime.intervals.sender.stop()
        log(
            logger,
            "graceful shutdown: batch finished, offsets committed, state snapshots written; "
            "flushing producer and leaving the consumer group",
            queues=len(runtime.engine.queues),
            fetched_records_applied=finished,
            snapshots_written=written,
        )


class SnapshotWriter:
    """Each changed queue's snapshot once per ``snapshot_interval_seconds``, spread over the
    interval (streams/worker/state_store.py); one log line per interval."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.store = checkpoint.store
        self.interval = checkpoint.worker.snapshot_interval_seconds
        self.written_since_log = 0
        self.logged_at = time.monotonic()

    async def tick(self) -> None:
        now = time.monotonic()
        # A few at a time, the loop given back in between (each encoding takes milliseconds).
        while written := self.store.write_due_snapshots(now, self.interval, 4):
            self.written_since_log += written
            await give_way()
        if now - self.logged_at >= self.interval:
            if self.written_since_log:
                log(logger, "state snapshots written", queues=self.written_since_log)
            self.written_since_log, self.logged_at = 0, now


def _partition_list(partitions: set[int]) -> str:
    return ",".join(map(str, sorted(partitions))) or "-"
