"""The checkpoint: how a fetched record reaches the engine and its offset gets committed, exactly.

One :class:`Checkpoint` per worker owns the whole protocol; its methods, in the order a batch
goes through them, are the protocol (docs/deploy.md's exactness rules point at them):

1. :meth:`Checkpoint.take_fetch`: wait for fetched source records (the consumer hands them over
   a whole fetch at a time: :class:`streams.worker.fetched.FetchedBatches`), for room in the
   changelog backlog, and for the assignment to be :meth:`~Checkpoint.settled`; then, under
   the lock, pop a batch.
2. :meth:`Checkpoint.plan`: put each partition's records in offset order, drop re-deliveries,
   find gaps (streams/worker/ordering.py).
3. :meth:`Checkpoint.read_gaps`: read the records of each gap straight from Kafka
   (streams/worker/gap_fill.py).
4. :meth:`Checkpoint.apply`: decode and screen (streams/worker/batching.py, screening.py;
   failures to the dead-letter topic), apply to the engine, and stage the deltas with the
   records the batch produced and its :meth:`~Checkpoint.committable` marker
   (streams/worker/state_store.py). Its KPIs are visible now.
5. :meth:`Checkpoint.write`: once the last flush's records are in Kafka, write what was staged,
   one delta record per source partition (group commit).
6. Confirm delivery: when every record a flush wrote is in Kafka
   (streams/worker/delivery.py), the store calls the batches' markers:
7. :meth:`Checkpoint.committable`: mark the batches' offsets (and their gaps') committable in
   the consumer (:meth:`streams.worker.source.SourceConsumer.mark_committable`).
8. Commit: Faust's commit timer commits what was marked; :meth:`Checkpoint.commit_remaining`
   does it at once at a graceful shutdown.

What keeps it exact when things go wrong lives beside it: the stall reader
(streams/worker/stall_reader.py) and the recovery hooks (streams/worker/recovery.py), both under
the same lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from processors.admission import Admission
from streams.logs import log
from streams.worker.batching import decode_batch
from streams.worker.gap_fill import FilledGap
from streams.worker.ordering import Gap, Plan
from streams.worker.outputs import Outputs
from streams.worker.runtime import WorkerRuntime
from streams.worker.screening import engine_refusals, screen_batch
from streams.worker.source import SourceConsumer

__all__ = ["Checkpoint"]

logger = logging.getLogger("ccpulse.worker")

CHANGELOG_BACKLOG_EVENTS = 40_000
"""Events applied and not yet in Kafka (staged or on their way) above which the checkpoint
waits for the changelog before it applies more: many seconds of a busy centre's events, a
fraction of a second of a worker draining a backlog (streams/worker/state_store.py)."""
DELIVERY_WAIT_SECONDS = 1.0
"""Longest wait for the last flush's changelog records before the deltas staged since are
written anyway (a broker that does not answer must not hold them, and the commit of their
offsets, for longer). Batches are applied meanwhile: the wait delays no KPI."""
SHUTDOWN_DELIVERY_SECONDS = 20.0
"""Longest wait at a graceful shutdown for the last batches' records before the commit."""


class Checkpoint:
    """Consume -> plan -> apply -> stage -> write -> confirm -> mark committable -> commit."""

    def __init__(self, runtime: WorkerRuntime, source: SourceConsumer, outputs: Outputs) -> None:
        assert runtime.store is not None and runtime.order is not None
        assert runtime.gaps is not None
        self.runtime = runtime
        self.source = source
        self.outputs = outputs
        self.store = runtime.store
        self.order = runtime.order
        self.gaps = runtime.gaps
        self.metrics = runtime.metrics
        self.worker = runtime.config.worker
        self.lock = runtime.applying
        """Held while records are planned and applied (here, by the stall reader and by the
        revocation hook, which waits for the batch in progress)."""
        self.admission = Admission(runtime.config.engine)
        self.changelog_due = asyncio.Event()
        """Set when a batch staged deltas: :meth:`write` has something to write."""

    # -- 1. take a fetch ---------------------------------------------------------------------

    def settled(self) -> bool:
        """Nothing is planned or applied unless :meth:`WorkerRuntime.settled`."""
        return self.runtime.settled()

    async def until_settled(self) -> None:
        await self.runtime.until_settled()

    async def run(self) -> None:
        """The batch task: :meth:`take_fetch`, forever."""
        while True:
            await self.take_fetch()

    async def take_fetch(self) -> None:
        """Wait for fetched records, then take and process one batch of them."""
        fetched = self.source.fetched
        await fetched.wait(self.worker.batch_max_events, self.worker.batch_within_seconds)
        # Applied faster than the changelog is written (a backlog being drained): wait for
        # it rather than hold an ever larger part of it in memory.
        await self.store.make_room(CHANGELOG_BACKLOG_EVENTS, DELIVERY_WAIT_SECONDS)
        await self.until_settled()
        async with self.lock:
            batch = fetched.pop(self.worker.batch_max_events)
            if batch is not None:
                await self.process(*batch)
                self.changelog_due.set()

    async def process(self, generation: int | None, runs: list[Sequence[Any]]) -> None:
        """Plan, read the gaps of, and apply one batch of fetched records, in runs of one
        partition's records (hold :attr:`lock`)."""
        if generation != self.source.generation or not self.settled():
            # Fetched before a rebalance, or one is under way: the assignment after it reads
            # these records again (Faust seeks to the committed offsets, and a hole the seek
            # leaves is read by the planner's gap reader).
            return
        plan = self.plan(runs)
        if plan.gaps:
            planned = await self.read_gaps(plan)
            if self.source.generation != generation:
                self.order.forget({(run[0].topic, run[0].partition) for run in runs if run})
                return
        else:
            planned = plan.items
        self.apply(planned, plan.gaps, [item for item in plan.items if type(item) is not Gap])

    # -- 2. plan in offset order, 3. read the gaps ---------------------------------------------

    def plan(self, runs: list[Sequence[Any]]) -> Plan[Any]:
        """``runs`` in offset order per partition, re-deliveries dropped (and counted), gaps
        found (streams/worker/ordering.py)."""
        plan = self.order.plan(runs)
        if self.order.redelivered:
            for topic, count in self.order.redelivered.items():
                self.metrics.redelivered.labels(topic).inc(count)
                # Logged too: a worker killed by SIGKILL takes its counters with it.
                log(logger, "re-delivered records dropped", topic=topic, records=count)
            self.order.redelivered.clear()
        return plan

    async def read_gaps(self, plan: Plan[Any]) -> list[Sequence[Any]]:
        """``plan``'s runs with each :class:`Gap` replaced by its records (a run), read from
        Kafka."""
        filled: dict[Gap, FilledGap] = {f.gap: f for f in await self.gaps.fill(plan.gaps)}
        out: list[Sequence[Any]] = []
        for item in plan.items:
            if type(item) is not Gap:
                out.append(item)  # type: ignore[arg-type]
                continue
            fill = filled[item]
            out.append(fill.records)
            self.metrics.offset_gaps.labels(item.topic).inc()
            log(
                logger,
                "gap in a partition's delivered offsets read straight from Kafka",
                logging.WARNING,
                topic=item.topic,
                partition=item.partition,
                first_offset=item.start,
                next_delivered=item.end,
                records=len(fill.records),
                offsets_without_record=fill.without_record,
            )
        return out

    # -- 4. decode, screen, apply, stage -------------------------------------------------------

    def apply(
        self, planned: list[Sequence[Any]], gaps: list[Gap], runs: list[Sequence[Any]]
    ) -> None:
        """Decode and apply one planned batch (runs of one partition's records) whose ``gaps``
        were read, and stage its changelog deltas together with the records it produced and
        its :meth:`committable` marker (``runs``: its planned records, each run of consecutive
        offsets), for :meth:`write` to write in one go. Never awaits."""
        runtime, outputs, metrics = self.runtime, self.outputs, self.metrics
        # Decoding, key checks and tallies in one pass (streams/worker/batching.py); metrics are
        # touched once per batch and (topic, type), not once per event.
        decoded = decode_batch(planned, self.worker.max_event_bytes)
        refused = screen_batch(decoded, self.admission, runtime.engine, time.time())
        # Records this batch produces besides its deltas: its offsets are marked committable
        # only once they are in Kafka too (streams/worker/delivery.py).
        sent: list[Any] = []
        for message, failure in (*decoded.failures, *refused):
            sent.append(outputs.dead_letter(message, failure))
        for message, event in decoded.misrouted:
            sent.append(outputs.rekey(message, event))
        for (topic, kind), count in decoded.counts.items():
            metrics.events.labels(topic, kind).inc(count)
        mark = self.committable(runs, gaps)
        if not decoded.by_queue:
            self.store.stage((), mark, sent)
            return
        result = runtime.engine.apply_grouped(decoded.by_queue)
        for message, failure in engine_refusals(decoded, result.refused):
            sent.append(outputs.dead_letter(message, failure))
        for forward in result.forwarded:
            sent.append(outputs.forward(forward))
        if runtime.intervals is not None:
            # Intervals the batch closed (streams/worker/intervals.py), in Kafka before the
            # batch's offsets are committable, like its other records.
            sent.extend(runtime.intervals.publish(result.touched))
        self.store.stage(decoded.applied, mark, sent)
        runtime.invalidate(result.touched)
        metrics.batches.inc()
        metrics.batch_events.observe(sum(map(len, planned)))
        metrics.owned_queues.set(len(runtime.engine.queues))

    # -- 5. write, 6. confirm delivery, 7. mark committable -------------------------------------

    async def write(self) -> None:
        """The changelog task: whenever batches staged deltas, write them once the last
        flush's records are in Kafka (at most ``DELIVERY_WAIT_SECONDS`` later), one delta
        record per partition for all of them (group commit, streams/worker/state_store.py).
        The store calls each batch's :meth:`committable` marker once they are in Kafka."""
        while True:
            await self.changelog_due.wait()
            self.changelog_due.clear()
            await self.store.delivered(DELIVERY_WAIT_SECONDS)
            self.store.flush()

    def committable(self, runs: list[Sequence[Any]], gaps: list[Gap]) -> Callable[[], None]:
        """The marker staged with a batch: called once its deltas (and what it produced) are
        in Kafka, it marks every record planned, applied or dropped (dead-lettered, re-keyed),
        and every offset of a gap read, committable. (A re-delivered record was marked with
        the batch that applied it, or is below the committed offset.)"""
        source = self.source

        def mark() -> None:
            source.mark_committable(runs, gaps)

        return mark

    # -- 8. commit ------------------------------------------------------------------------

    async def commit_remaining(self) -> int:
        """Apply what is fetched and not applied yet, write its changelog and commit it
        (graceful shutdown: the fetcher has stopped); how many records."""
        count = 0
        fetched = self.source.fetched
        async with self.lock:
            while (batch := fetched.pop(self.worker.batch_max_events)) is not None:
                await self.process(*batch)
                count += sum(map(len, batch[1]))
            staged = self.store.staged
            self.store.flush()
        if count or staged:
            # The markers wait for the records to be in Kafka (streams/worker/delivery.py).
            await self.store.all_delivered(SHUTDOWN_DELIVERY_SECONDS)
            await self.source.commit()
        return count
