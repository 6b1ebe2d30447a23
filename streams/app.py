"""The Faust application: topics, the state table, the KPI batch task and its runtime.

One event's path: a message on ``ccpulse.telephony`` or ``ccpulse.ticketing`` (keyed by queue)
-> Faust's consumer fetches it, and the drain loop hands the fetch's source records over as one
batch (:mod:`streams.batch_fetch`) -> ``apply_batches`` plans the batch (re-deliveries dropped,
gaps read: :mod:`streams.ordering`) -> :mod:`streams.batching` decodes each value (bad ones go to
``ccpulse.deadletter``) -> :class:`processors.engine.KpiEngine` applies the batch, and its
KPIs are visible -> :class:`streams.state_store.QueueStateStore` stages its deltas ->
``write_changelog`` writes what was staged, one record per source partition, once the last
records are in Kafka, and acks the batches' offsets for Faust to commit -> /metrics and
/api/kpis read snapshots from the engine (:mod:`streams.web`), computed a few queues at a time
so that the event loop keeps running the batches and the producer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from processors.admission import Admission
from processors.engine import KpiEngine, Position
from processors.snapshot import QueueSnapshot
from processors.snapshot_cache import SnapshotCache
from streams.batch_fetch import FetchedBatches, Run, install_batch_fetch
from streams.batching import decode_batch
from streams.codec import DecodeFailure, encode_event
from streams.config import Config
from streams.deadletter import LogBudget, deadletter_record
from streams.exporter import KpiCollector, PipelineMetrics
from streams.faust_acks import ack_offsets, ack_records, dedupe_acked, install_commit_offsets
from streams.gap_fill import FilledGap, GapFiller
from streams.lag import (
    committed_offset,
    handed_over,
    partition_highwaters,
    partition_lags,
    update_lag_gauge,
)
from streams.logs import log
from streams.ordering import Gap, PartitionOrder, Plan
from streams.screening import engine_refusals, screen_batch
from streams.stalls import Behind, StallWatch
from streams.state_store import QueueStateStore

__all__ = ["WorkerRuntime", "build_app"]

logger = logging.getLogger("ccpulse.worker")

TABLE_NAME = "queue-state"
LAG_INTERVAL_SECONDS = 2.0
STALL_CHECK_SECONDS = 1.0
SNAPSHOT_TICK_SECONDS = 1.0
SNAPSHOT_SLICE_SECONDS = 0.005
"""Longest stretch of KPI snapshot computing before the event loop is given back."""
CHANGELOG_BACKLOG_EVENTS = 40_000
"""Events applied and not yet in Kafka (staged or on their way) above which the batch task
waits for the changelog before it applies more: many seconds of a busy centre's events, a
fraction of a second of a worker draining a backlog (streams/state_store.py)."""
DELIVERY_WAIT_SECONDS = 1.0
"""Longest wait for the last flush's changelog records before the deltas staged since are
written anyway (a broker that does not answer must not hold them, and the commit of their
offsets, for longer). Batches are applied meanwhile: the wait delays no KPI."""


@dataclass
class WorkerRuntime:
    """Everything the agent, the timers and the web views share inside one worker process."""

    config: Config
    engine: KpiEngine
    registry: CollectorRegistry
    metrics: PipelineMetrics
    store: QueueStateStore | None = None
    alerts: Any = None
    """streams.alert_runtime.AlertRuntime: rule evaluation, ``firing()``, ack and silence."""
    order: PartitionOrder | None = None
    """Finds re-deliveries and gaps in each partition's offsets (streams/ordering.py)."""
    gaps: GapFiller | None = None
    """Reads a gap's records straight from Kafka (streams/gap_fill.py)."""
    ready: bool = False
    started_at: float = field(default_factory=time.time)
    snapshot_cache: SnapshotCache | None = None
    """One snapshot per queue and engine second, shared by /metrics, /api/kpis, the wallboard
    stream and the alert timer (processors/snapshot_cache.py)."""
    fetched: FetchedBatches | None = None
    """Source records fetched and not yet applied (streams/batch_fetch.py)."""
    apply_remaining: Callable[[], Awaitable[int]] | None = None
    """Applies and commits what is fetched and not applied yet (for graceful shutdown)."""
    applying: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while records are planned and applied: by the batch task, the stalled-partition
    reader, and the revocation handler (which waits for the batch in progress)."""

    kpi_metric_names: frozenset[str] = frozenset()
    """The metric names read from the snapshots (streams/exporter.py)."""
    _pinned: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.snapshot_cache is None:
            self.snapshot_cache = SnapshotCache(self.engine)

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
        second (or the one pinned by :meth:`pinned` for the scrape in progress). Each queue's is
        computed once per second, and again only after a batch touched it."""
        assert self.snapshot_cache is not None
        second = self._pinned if self._pinned is not None else math.floor(self.clock())
        return self.snapshot_cache.snapshots(second)

    async def fresh_snapshots(self) -> dict[str, QueueSnapshot]:
        """:meth:`snapshots`, computed a few queues at a time with the event loop given back
        in between (every ``SNAPSHOT_SLICE_SECONDS``), so that computing a hundred queues does
        not hold up the batches, the producer and the other requests for a tenth of a second
        (``make bench`` freshness)."""
        cache = self.snapshot_cache
        assert cache is not None
        second = math.floor(self.clock())
        stale = cache.stale(second)
        started = time.perf_counter()
        for index, name in enumerate(stale):
            cache.refresh(second, [name])
            if time.perf_counter() - started >= SNAPSHOT_SLICE_SECONDS and index + 1 < len(stale):
                await asyncio.sleep(0)
                started = time.perf_counter()
        return cache.snapshots(second)  # and the few a batch touched meanwhile

    @contextmanager
    def pinned(self, snapshots: dict[str, QueueSnapshot]) -> Iterator[None]:
        """While a scrape reads ``snapshots`` (from :meth:`fresh_snapshots`), have
        :meth:`snapshots` serve their second, even if the clock has moved on since."""
        # The wall-clock second they were taken for: no queue is taken before it.
        self._pinned = int(min((s.at for s in snapshots.values()), default=self.clock()))
        try:
            yield
        finally:
            self._pinned = None

    def invalidate(self, queues: Iterable[str] | None = None) -> None:
        """``queues`` changed (a batch touched them); None: any state may have changed."""
        assert self.snapshot_cache is not None
        if queues is None:
            self.snapshot_cache.clear()
        else:
            self.snapshot_cache.touch(queues)


def _faust_settings(config: Config) -> dict[str, Any]:
    from streams.kafka_settings import faust_broker_settings

    worker = config.worker
    settings: dict[str, Any] = {
        **faust_broker_settings(config.kafka),
        "store": "memory://",
        "autodiscover": False,
        "topic_partitions": config.topics.partitions,
        "topic_replication_factor": config.topics.replication_factor,
        "table_standby_replicas": 0,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_enabled": True,
        "web_bind": worker.web_host,
        "web_host": worker.web_host,
        "web_port": worker.web_port,
        "datadir": worker.data_dir,
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": 6.0 if worker.embedded_broker else 30.0,
        "broker_heartbeat_interval": 1.0 if worker.embedded_broker else 3.0,
        "broker_commit_every": 1000,
        "broker_commit_interval": 1.0,
    }
    if worker.embedded_broker:
        # Tansu answers ListOffsets "latest" wrongly for multi-record producer batches, which
        # breaks table recovery: one record per batch on the embedded broker only.
        settings["producer_max_batch_size"] = 1
    return settings


def build_app(config: Config) -> tuple[faust.App, WorkerRuntime]:
    """The Faust app for ``config``, with its agent, timers and web views registered."""
    from streams.faust_consumer import install_fetch_wait

    install_fetch_wait(config.worker.app_id, config.worker.consumer_fetch_wait_ms())
    app = faust.App(config.worker.app_id, **_faust_settings(config))
    registry = CollectorRegistry(auto_describe=True)
    runtime = WorkerRuntime(
        config=config,
        engine=KpiEngine(config.engine),
        registry=registry,
        metrics=PipelineMetrics(registry),
    )
    runtime.kpi_metric_names = KpiCollector(
        runtime.snapshots, lambda: runtime.engine.queues
    ).register(registry)
    topics = config.topics
    source = app.topic(topics.telephony, topics.ticketing, key_type=bytes, value_type=bytes)
    ticketing = app.topic(topics.ticketing, key_type=bytes, value_type=bytes)
    deadletter = app.topic(topics.deadletter, key_type=bytes, value_type=bytes, partitions=1)
    table = app.Table(
        TABLE_NAME,
        default=None,
        partitions=topics.partitions,
        key_type=bytes,
        value_type=bytes,
    )
    store = runtime.store = QueueStateStore(table, runtime.engine)
    runtime.order = PartitionOrder(lambda key: _resume_offset(app, runtime.engine, key))
    runtime.gaps = GapFiller(config.kafka, config.worker.gap_fill_warn_seconds)
    runtime.fetched = FetchedBatches(
        (topics.telephony, topics.ticketing), max_buffered=4 * config.worker.batch_max_events
    )
    install_batch_fetch(app, runtime.fetched)
    install_commit_offsets()
    _register_agent(app, runtime, source, ticketing, deadletter, store)
    _register_lifecycle(app, runtime, table, store)
    from streams.alert_runtime import install_alerts

    install_alerts(app, runtime, table, (topics.telephony, topics.ticketing))
    from streams.web import register_views

    register_views(app, runtime)
    return app, runtime


def _resume_offset(app: faust.App, engine: KpiEngine, key: tuple[str, int]) -> int | None:
    """Where a newly assigned partition must resume: the group's committed offset (None: the
    group has none, read it from its start).

    Faust seeds its committed offsets in ``perform_seek``, at the end of a rebalance, but
    delivers records of the new assignment before that. The agent waits for the seek
    (:func:`_wait_for_seek`), but not forever: if the rebalance is still going on, the
    partition resumes one past the lowest of the offsets its recovered queues applied from it
    (the table is recovered before any record is processed), else from its start. The lowest
    queue's offset, not the highest: a crash can leave one queue's last delta in the changelog
    and not another's, and records the engine has applied for some queues are skipped by it per
    queue, while records planned as re-deliveries are dropped for all (streams/ordering.py).
    Once the rebalance is over, no committed offset means the group never committed one (or
    committed 0): every record is read, and the engine skips per queue what it already applied.
    """
    committed = committed_offset(app.consumer, key)
    if committed is not None:
        return committed
    if not app.rebalancing:
        return None
    position = Position(key[0], key[1], 0).key
    applied = [s.offsets[position] for s in engine.queues.values() if position in s.offsets]
    return min(applied) + 1 if applied else None


def _register_agent(
    app: faust.App,
    runtime: WorkerRuntime,
    source: Any,
    ticketing: Any,
    deadletter: Any,
    store: QueueStateStore,
) -> None:
    worker = runtime.config.worker
    metrics = runtime.metrics
    topics = runtime.config.topics
    order, gaps, fetched = runtime.order, runtime.gaps, runtime.fetched
    assert order is not None and gaps is not None and fetched is not None
    rekey = {
        name: app.topic(name, key_type=bytes, value_type=bytes)
        for name in (topics.telephony, topics.ticketing)
    }

    # The batch task and the stalled-partition reader both plan and apply records; one at a
    # time.
    applying = runtime.applying
    admission = Admission(runtime.config.engine)

    def apply(planned: list[Sequence[Any]], filled: list[Gap], runs: list[Sequence[Any]]) -> None:
        """Decode and apply one planned batch (runs of one partition's records) whose gaps
        (``filled``) were read, and stage its changelog deltas together with the acks of its
        gaps' offsets and of its planned records (``runs``, each of consecutive offsets), for the
        flush task to write and ack in one go (streams/state_store.py). Never awaits."""
        # Decoding, key checks and tallies in one pass (streams/batching.py); metrics are
        # touched once per batch and (topic, type), not once per event.
        decoded = decode_batch(planned, worker.max_event_bytes)
        refused = screen_batch(decoded, admission, runtime.engine, time.time())
        for message, failure in (*decoded.failures, *refused):
            _dead_letter(deadletter, message, failure, worker.deadletter_original_bytes)
            metrics.deadlettered.labels(message.topic, failure.reason_code).inc()
        for message, event in decoded.misrouted:
            # A producer that did not key by queue: re-key so the queue's state stays
            # on one partition. Counted, never dropped.
            rekey[message.topic].send_soon(key=event.queue.encode(), value=message.value)
            metrics.rekeyed.labels(message.topic).inc()
        for (topic, kind), count in decoded.counts.items():
            metrics.events.labels(topic, kind).inc(count)

        def ack() -> None:
            # Every record planned, applied or dropped (dead-lettered, re-keyed), and every
            # offset of a gap read, is done with once its delta is sent. (A re-delivered record
            # was acked with the batch that applied it, or is below the committed offset.)
            for gap in filled:
                ack_offsets(app.consumer, gap.topic, gap.partition, gap.start, gap.end)
            ack_records(app.consumer, runs, consecutive=True)

        if not decoded.by_queue:
            store.stage((), ack)
            return
        result = runtime.engine.apply_grouped(decoded.by_queue)
        for message, failure in engine_refusals(decoded, result.refused):
            _dead_letter(deadletter, message, failure, worker.deadletter_original_bytes)
            metrics.deadlettered.labels(message.topic, failure.reason_code).inc()
        for forward in result.forwarded:
            ticketing.send_soon(key=forward.queue.encode(), value=encode_event(forward))
        store.stage(decoded.applied, ack)
        runtime.invalidate(result.touched)
        metrics.batches.inc()
        metrics.batch_events.observe(sum(map(len, planned)))
        metrics.owned_queues.set(len(runtime.engine.queues))

    @app.agent(source, name="ccpulse-kpis")
    async def kpi_agent(stream: Any) -> None:
        """Subscribes the worker to the source topics, so Faust assigns their partitions
        together with the table's. Their records never arrive here: the drain loop hands them
        to ``fetched`` in whole batches (streams/batch_fetch.py), applied by ``apply_batches``.
        """
        async for _event in stream:
            pass

    async def apply_fetched(generation: int | None, runs: list[Run]) -> None:
        """Plan, apply and ack one batch of fetched source records, in runs of one partition's
        records (hold ``applying``)."""
        if generation != app.consumer_generation_id:
            return  # fetched before a rebalance: the new assignment reads them again
        if app.rebalancing and order.unplanned(runs):
            await _wait_for_seek(app, generation)
            if app.consumer_generation_id != generation:
                return
        plan = order.plan(runs)
        if order.redelivered:
            _redelivered(metrics, order)
        if plan.gaps:
            planned = await _fill_gaps(plan, gaps, metrics)
            if app.consumer_generation_id != generation:
                order.forget({(run[0].topic, run[0].partition) for run in runs if run})
                return
        else:
            planned = plan.items
        apply(planned, plan.gaps, [item for item in plan.items if type(item) is not Gap])

    @app.task
    async def apply_batches() -> None:
        """Apply the fetched source records, a batch at a time."""
        while True:
            await fetched.wait(worker.batch_max_events, worker.batch_within_seconds)
            # Applied faster than the changelog is written (a backlog being drained): wait for
            # it rather than hold an ever larger part of it in memory.
            await store.make_room(CHANGELOG_BACKLOG_EVENTS, DELIVERY_WAIT_SECONDS)
            async with applying:
                batch = fetched.pop(worker.batch_max_events)
                if batch is not None:
                    await apply_fetched(*batch)
                    changelog_due.set()

    changelog_due = asyncio.Event()

    @app.task
    async def write_changelog() -> None:
        """Write what the applied batches staged: once the last flush's records are in Kafka
        (at most ``DELIVERY_WAIT_SECONDS`` later), one delta record per partition for all of
        them, and ack their offsets (group commit, streams/state_store.py)."""
        while True:
            await changelog_due.wait()
            changelog_due.clear()
            await store.delivered(DELIVERY_WAIT_SECONDS)
            store.flush()

    async def apply_remaining() -> int:
        """Apply what is fetched and not applied yet, write its changelog and commit it
        (graceful shutdown: the fetcher has stopped); how many records."""
        count = 0
        async with applying:
            while (batch := fetched.pop(worker.batch_max_events)) is not None:
                await apply_fetched(*batch)
                count += sum(map(len, batch[1]))
            staged = store.staged
            store.flush()
        if count or staged:
            await app.consumer.commit()
        return count

    runtime.apply_remaining = apply_remaining

    del kpi_agent, apply_batches, write_changelog

    dropped = StallWatch(worker.stalled_partition_seconds)
    stopped = StallWatch(worker.stopped_partition_seconds)
    commits = StallWatch(worker.stalled_partition_seconds)
    watches = (dropped, stopped, commits)
    source_topics = (topics.telephony, topics.ticketing)

    def still_owned(key: tuple[str, int]) -> bool:
        """No rebalance going on and ``key`` still assigned (checked again once the agent's
        lock is held: the batch that held it may have ended with a revocation)."""
        return not app.rebalancing and key in partition_highwaters(app.consumer, source_topics)

    async def read_missing(key: tuple[str, int], end: int, why: str, **fields: Any) -> None:
        """Read and apply a partition's records from its expected offset up to ``end`` (at
        most a batch), under the agent's lock, unless a rebalance got in the way."""
        async with applying:
            generation = app.consumer_generation_id
            if not still_owned(key):
                return
            gap = order.tail(key, min(end, order.expected(key) + worker.batch_max_events))
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
            planned = await _fill_gaps(Plan[Any]([gap], [gap]), gaps, metrics)
            if app.rebalancing or app.consumer_generation_id != generation:
                # Revoked while reading: the next owner reads these records itself.
                order.forget([key])
                return
            apply(planned, [gap], [])
            changelog_due.set()

    @app.timer(interval=STALL_CHECK_SECONDS)
    async def read_stalled_partitions() -> None:
        """Apply, straight from Kafka, what a partition's stream stopped delivering, and let
        Faust commit what was applied (streams/stalls.py)."""
        if app.rebalancing or not runtime.ready:
            for watch in watches:
                watch.reset()
            return
        now = time.monotonic()
        highwaters = partition_highwaters(app.consumer, source_topics)
        expected = {key: order.expected(key) for key in highwaters}
        uncommitted = {
            key: Behind(committed_offset(app.consumer, key) or 0, expected[key], expected[key])
            for key in highwaters
        }
        for key in commits.stalled(uncommitted, now):
            # Under the lock: a batch being planned and applied has moved the expected offset
            # past records it has not applied yet.
            async with applying:
                if not still_owned(key):
                    return
                now_behind = Behind(committed_offset(app.consumer, key) or 0, order.expected(key))
                if now_behind.position < now_behind.target:
                    store.flush()  # what is applied and staged: sent and acked first
                    _catch_up_commit(app, key, now_behind)
        handed = {key: handed_over(app.consumer, key, hw) for key, hw in highwaters.items()}
        # Records Faust's consumer handed over that were never applied (cleared at a rebalance).
        for key in dropped.stalled({k: Behind(expected[k], handed[k]) for k in handed}, now):
            await read_missing(
                key,
                handed[key],
                "records Faust handed over never reached the agent",
                handed_over_through=handed[key] - 1,
                seconds=worker.stalled_partition_seconds,
            )
        # Records Faust does not hand over at all: seen twice on a worker restarted after a
        # SIGKILL, which delivered nothing for the 90 s its test waited.
        behind = {k: Behind(expected[k], hw, handed[k]) for k, hw in highwaters.items()}
        for key in stopped.stalled(behind, now):
            await read_missing(
                key,
                highwaters[key],
                "Faust has handed over none of its records for a while",
                highwater=highwaters[key],
                seconds=worker.stopped_partition_seconds,
            )

    del read_stalled_partitions

    written_since_log = 0
    logged_at = time.monotonic()

    @app.timer(interval=min(SNAPSHOT_TICK_SECONDS, worker.snapshot_interval_seconds))
    async def snapshot_state() -> None:
        """Each changed queue's snapshot once per ``snapshot_interval_seconds``, spread over
        the interval (streams/state_store.py); one log line per interval."""
        nonlocal written_since_log, logged_at
        now = time.monotonic()
        written_since_log += store.write_due_snapshots(now, worker.snapshot_interval_seconds)
        if now - logged_at >= worker.snapshot_interval_seconds:
            if written_since_log:
                log(logger, "state snapshots written", queues=written_since_log)
            written_since_log, logged_at = 0, now

    del snapshot_state


def _catch_up_commit(app: faust.App, key: tuple[str, int], behind: Behind) -> None:
    """Ack, in Faust's consumer, the offsets of a partition the agent has applied (every
    offset below its expected one) but Faust has not committed for a while, so Faust commits
    them (streams/stalls.py). Call it holding the agent's lock, right after flushing what is
    staged: then every planned record is applied and its changelog delta sent, and Faust
    flushes the producer before it commits.
    """
    duplicates = dedupe_acked(app.consumer, key[0], key[1])
    added = ack_offsets(app.consumer, key[0], key[1], behind.position, behind.target)
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


SEEK_WAIT_SECONDS = 10.0


async def _wait_for_seek(app: faust.App, generation: int | None) -> None:
    """Wait (bounded) until Faust has sought the new assignment to its committed offsets.

    Faust delivers records of a new assignment while it still recovers the tables, from
    wherever the consumer stood; only at the end of the rebalance does it seek every partition
    to its committed offset (and learn those offsets). Planning before then would have to guess
    where each partition resumes: the first records seen after a rebalance in the tests were
    sometimes far ahead of the committed offset, or one past it. Bounded, and over as soon as
    another rebalance begins (a new generation): its revocation waits for this batch.
    """
    deadline = time.monotonic() + SEEK_WAIT_SECONDS
    while (
        app.rebalancing and app.consumer_generation_id == generation and time.monotonic() < deadline
    ):
        await asyncio.sleep(0.01)


def _redelivered(metrics: PipelineMetrics, order: PartitionOrder) -> None:
    for topic, count in order.redelivered.items():
        metrics.redelivered.labels(topic).inc(count)
    order.redelivered.clear()


async def _fill_gaps(
    plan: Plan[Any], gaps: GapFiller, metrics: PipelineMetrics
) -> list[Sequence[Any]]:
    """``plan``'s runs with each :class:`Gap` replaced by its records (a run), read from
    Kafka."""
    filled: dict[Gap, FilledGap] = {f.gap: f for f in await gaps.fill(plan.gaps)}
    out: list[Sequence[Any]] = []
    for item in plan.items:
        if type(item) is not Gap:
            out.append(item)  # type: ignore[arg-type]
            continue
        fill = filled[item]
        out.append(fill.records)
        metrics.offset_gaps.labels(item.topic).inc()
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


def _dead_letter(topic: Any, message: Any, failure: DecodeFailure, keep_bytes: int) -> None:
    """Send ``message`` to the dead-letter topic: a record of bounded size, whatever the
    original's (streams/deadletter.py); its key is the original's, cut to the same bound."""
    source = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
    value = message.value if isinstance(message.value, bytes) else b""
    record = deadletter_record(
        value, failure.reason, failure.reason_code, source, keep_bytes=keep_bytes
    )
    key = message.key[:1024] if isinstance(message.key, bytes) else None
    topic.send_soon(key=key, value=record)
    if _DEADLETTER_LOG.allow(time.monotonic()):
        log(
            logger,
            "event dead-lettered",
            logging.WARNING,
            reason_code=failure.reason_code,
            reason=failure.reason[:200],
            not_logged_since_last=_DEADLETTER_LOG.take_suppressed(),
            **source,
        )


_DEADLETTER_LOG = LogBudget(lines=20, seconds=10.0)
"""A flood of bad records (20,000 made-up queues) must not become a flood of log lines: every
one is on the dead-letter topic and counted; the log shows 20 per 10 s and how many it skipped."""


def _register_lifecycle(
    app: faust.App, runtime: WorkerRuntime, table: Any, store: QueueStateStore
) -> None:
    source_topics = {runtime.config.topics.telephony, runtime.config.topics.ticketing}

    @table.on_recover
    async def rebuild() -> None:
        assigned = app.assignor.assigned_actives()
        partitions = {tp.partition for tp in assigned if tp.topic in source_topics}
        started = time.monotonic()
        queues = store.rebuild(partitions)
        runtime.ready = True
        runtime.invalidate()
        runtime.metrics.ready.set(1)
        runtime.metrics.owned_queues.set(len(runtime.engine.queues))
        snapshots, deltas = store.last_rebuild
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

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **_: Any) -> None:
        # Faust revokes everything on a rebalance and recovers what it assigns afterwards;
        # the queues of revoked partitions stop being exported now and are rebuilt from the
        # table by `rebuild` if they come back to this worker.
        runtime.ready = False
        runtime.metrics.ready.set(0)
        async with runtime.applying:
            # The batch in progress is applied (or dropped) first; what is fetched and not
            # applied belongs to the old assignment: the new one reads it again.
            if runtime.fetched is not None:
                runtime.fetched.clear()
            # Deltas staged and not written, and their acks, belong to the old assignment too:
            # unacked, their records are read again by the new owner, which recovers the
            # snapshots written here (they hold those events and their offsets) and skips them.
            store.drop_staged()
            store.write_snapshots()
            partitions = {tp.partition for tp in revoked if tp.topic in source_topics}
            gone = store.forget(partitions)
            if runtime.order is not None:
                runtime.order.forget((tp.topic, tp.partition) for tp in revoked)
        runtime.invalidate()
        runtime.metrics.owned_queues.set(len(runtime.engine.queues))
        # Faust flushed the producer before this signal; flush the snapshots just written too,
        # so they are in the changelog before this rebalance completes: a new owner's own
        # later snapshot can then never be overwritten by this older one.
        await app.producer.flush()
        log(
            logger,
            "partitions revoked",
            partitions=_partition_list(partitions),
            queues_dropped=len(gone),
            queue_names=",".join(sorted(gone)) or "-",
        )

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        partitions = {tp.partition for tp in assigned if tp.topic in source_topics}
        log(
            logger,
            "partitions assigned",
            partitions=_partition_list(partitions),
            topics=",".join(sorted(source_topics)),
            generation=getattr(app, "consumer_generation_id", None),
        )

    @app.on_before_shutdown.connect
    async def on_shutdown(sender: Any, **_: Any) -> None:
        # Faust has already (on SIGTERM / stop): stopped fetching, waited for the agent to
        # finish and ack its batch, flushed the producer and committed the offsets. What it
        # cannot know: our state lives in the engine, so snapshot every queue with unsaved
        # deltas now, so the next owner recovers from one record per queue. Faust flushes the
        # producer right after this hook and the consumer leaves the group when it stops.
        # Source records are not Faust's stream's (streams/batch_fetch.py): the batch task's
        # records fetched and not applied yet are applied and committed here first.
        finished = await runtime.apply_remaining() if runtime.apply_remaining else 0
        written = store.write_snapshots()
        runtime.ready = False
        runtime.metrics.ready.set(0)
        if runtime.gaps is not None:
            await runtime.gaps.stop()
        log(
            logger,
            "graceful shutdown: batch finished, offsets committed, state snapshots written; "
            "flushing producer and leaving the consumer group",
            queues=len(runtime.engine.queues),
            fetched_records_applied=finished,
            snapshots_written=written,
        )

    @app.timer(interval=LAG_INTERVAL_SECONDS)
    async def measure_lag() -> None:
        update_lag_gauge(runtime.metrics.lag, partition_lags(app.consumer, source_topics))

    del rebuild, on_revoked, on_assigned, on_shutdown, measure_lag


def _partition_list(partitions: set[int]) -> str:
    return ",".join(map(str, sorted(partitions))) or "-"
