"""The worker's shared state: the engine, its state store, the snapshots the views read.

One :class:`WorkerRuntime` per worker process, built by :func:`streams.app.build_app`; the
checkpoint (streams/worker/checkpoint.py) applies records to its engine, the views read its
snapshots (computed once per queue and second: processors/snapshot_cache.py).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from processors.engine import KpiEngine
from processors.snapshot import QueueSnapshot
from processors.snapshot_cache import SnapshotCache
from streams.config import Config
from streams.give_way import give_way
from streams.worker.gap_fill import GapFiller
from streams.worker.intervals import IntervalPublisher
from streams.worker.ordering import PartitionOrder
from streams.worker.source import SourceConsumer
from streams.worker.state_store import QueueStateStore

if TYPE_CHECKING:
    # Types only: streams.views reads this runtime (through its WorkerView Protocol), so the
    # worker imports nothing of it at run time (tests/test_layering.py).
    from streams.views.access import Access
    from streams.views.exposition import KpiPage
    from streams.views.metrics import PipelineMetrics
    from streams.views.prepared_page import PreparedPage
    from streams.views.worker_view import AlertBook

__all__ = ["SNAPSHOT_SLICE_SECONDS", "WorkerRuntime"]

SETTLE_POLL_SECONDS = 0.01
SNAPSHOT_SLICE_SECONDS = 0.005
"""Longest stretch of KPI snapshot computing before the event loop is given back."""


@dataclass
class WorkerRuntime:
    """Everything the checkpoint, the timers and the web views share inside one worker process.

    The views (streams/views/), the alerts (streams/alerting/), the wallboard and the staffing
    view read it through :class:`streams.views.worker_view.WorkerView`, which this class
    satisfies."""

    config: Config
    engine: KpiEngine
    registry: CollectorRegistry
    metrics: PipelineMetrics
    store: QueueStateStore | None = None
    alerts: AlertBook | None = None
    """streams.alerting.runtime.AlertRuntime: rule evaluation, ``firing()``, ack and silence."""
    order: PartitionOrder | None = None
    """Finds re-deliveries and gaps in each partition's offsets (streams/worker/ordering.py)."""
    gaps: GapFiller | None = None
    """Reads a gap's records straight from Kafka (streams/worker/gap_fill.py)."""
    ready: bool = False
    started_at: float = field(default_factory=time.time)
    snapshot_cache: SnapshotCache | None = None
    """One snapshot per queue and engine second, shared by /metrics, /api/kpis, the wallboard
    stream and the alert timer (processors/snapshot_cache.py)."""
    source: SourceConsumer | None = None
    """The worker's consumer of the source topics (streams/worker/source.py)."""
    applying: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while records are planned and applied: by the checkpoint, the stall reader, and
    the revocation handler (which waits for the batch in progress)."""

    intervals: IntervalPublisher | None = None
    """Closed intervals to ``ccpulse.intervals`` (streams/worker/intervals.py)."""
    access: Access | None = None
    """Who may read and act on which queues (streams/views/access.py), built on first use."""
    kpi_page: KpiPage | None = None
    """The KPI families of /metrics, kept per queue (streams/views/exposition.py)."""
    prepared_page: PreparedPage | None = None
    """The full /metrics page prepared ahead of the next scrape (streams/views/prepared_page.py);
    dropped by :meth:`invalidate` when any state may have changed (an assignment)."""

    def __post_init__(self) -> None:
        if self.snapshot_cache is None:
            self.snapshot_cache = SnapshotCache(self.engine)

    def settled(self) -> bool:
        """No rebalance under way and the state table recovered for the current assignment.

        Nothing is planned or applied otherwise (streams/worker/checkpoint.py). During a
        rebalance Faust delivers records of the new assignment from wherever the consumer
        stood, before its table recovery has finished and before it has sought the partitions
        to their committed offsets (and learnt them). Applied then, a batch was overwritten by
        the recovery of its queues, while its offsets were acked and committed, and its delta
        (numbered from 1 again, before the recovered ones were known) could replace a recovered
        delta in the changelog: events lost for good (issue 26). An earlier version waited for
        the seek at most 10 s, then applied anyway.
        """
        return self.ready and not (self.source is not None and self.source.rebalancing)

    async def until_settled(self) -> None:
        """Wait until :meth:`settled` (polled: Faust has no event for "rebalance over")."""
        while not self.settled():
            await asyncio.sleep(SETTLE_POLL_SECONDS)

    def clock(self, queue: str | None = None) -> float:
        """The engine's "now": the wall clock, or for an owned ``queue`` the later of it and
        the queue's newest event time, at most ``engine.max_future_seconds`` ahead (the second
        its snapshot is taken at: processors/snapshot_cache.py). Live sources keep the two
        together; a simulator running faster than real time moves its queues' event time
        ahead, and their live gauges follow it. One queue never moves another's "now"."""
        now = time.time()
        state = self.engine.queues.get(queue) if queue is not None else None
        if state is None:
            return now
        assert self.snapshot_cache is not None
        return max(now, float(self.snapshot_cache.second_of(state, now)))

    def snapshots(self) -> dict[str, QueueSnapshot]:
        """Snapshots of the owned queues, each at its own second for the current wall-clock
        second. Each queue's is computed once per second, and again only after a batch touched
        it."""
        assert self.snapshot_cache is not None
        second = math.floor(self.clock())
        return self.snapshot_cache.snapshots(second)

    def snapshot_of(self, queue: str) -> QueueSnapshot | None:
        """The snapshot of one owned queue (None: not owned), as :meth:`snapshots` has it."""
        assert self.snapshot_cache is not None
        return self.snapshot_cache.one(math.floor(self.clock()), queue)

    async def fresh_snapshots(self, channels: bool = False) -> dict[str, QueueSnapshot]:
        """:meth:`snapshots`, computed a few queues at a time with the event loop given back
        in between (every ``SNAPSHOT_SLICE_SECONDS``), so that computing a thousand queues does
        not hold up the batches, the producer and the other requests (``make bench``, "Loop
        stalls"); a queue computed here and touched by a batch before the end keeps the
        snapshot computed here. ``channels``: with the per-channel windows of the queues that
        have them (/metrics and /api/kpis; the alert timer does without)."""
        cache = self.snapshot_cache
        assert cache is not None
        second = math.floor(self.clock())
        stale = cache.stale(second)
        started = time.perf_counter()
        for index, name in enumerate(stale):
            # Only if still stale: another reader (the alert timer, a scrape) may have computed
            # it since this call began, between two slices.
            if cache.is_stale(name, second):
                cache.refresh(second, [name])
            if time.perf_counter() - started >= SNAPSHOT_SLICE_SECONDS and index + 1 < len(stale):
                await give_way()
                started = time.perf_counter()
        # Not cache.snapshots(second): that would compute again, at one go, every queue a batch
        # touched meanwhile, or that the alert timer computed for the next second (1,000 queues
        # on a busy machine: seconds of stall, make bench "Loop stalls"). Each snapshot kept is
        # from this call's start or later.
        kept = cache.kept(second)
        if channels:
            for name in cache.without_channels(kept):
                cache.add_channels([name])
                if time.perf_counter() - started >= SNAPSHOT_SLICE_SECONDS:
                    await give_way()
                    started = time.perf_counter()
        return kept

    def invalidate(self, queues: Iterable[str] | None = None) -> None:
        """``queues`` changed (a batch touched them); None: any state may have changed."""
        assert self.snapshot_cache is not None
        if queues is None:
            self.snapshot_cache.clear()
            if self.prepared_page is not None:
                self.prepared_page.drop()
        else:
            self.snapshot_cache.touch(queues)
