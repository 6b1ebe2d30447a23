"""The Faust application: topics, the state table, the KPI batch task and its runtime.

One event's path: a message on ``ccpulse.telephony`` or ``ccpulse.ticketing`` (keyed by queue)
-> Faust's consumer fetches it, and the drain loop hands the fetch's source records over as one
batch (:mod:`streams.faust_adapter.batch_fetch`) -> ``apply_batches`` plans the batch
(re-deliveries dropped,
gaps read: :mod:`streams.worker.ordering`) -> :mod:`streams.worker.batching` decodes each value
(bad ones go to
``ccpulse.deadletter``) -> :class:`processors.engine.KpiEngine` applies the batch, and its
KPIs are visible -> :class:`streams.worker.state_store.QueueStateStore` stages its deltas ->
``write_changelog`` writes what was staged, one record per source partition, once the last
records are in Kafka, and acks the batches' offsets for Faust to commit once those records are
in Kafka too (:mod:`streams.worker.delivery`) -> /metrics and
/api/kpis read snapshots from the engine (:mod:`streams.views.routes`), computed a few queues at a
time
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
from processors.engine import KpiEngine
from processors.snapshot import QueueSnapshot
from processors.snapshot_cache import SnapshotCache
from streams.broker.topics import TABLE_NAME
from streams.config import Config
from streams.faust_adapter.acks import (
    ack_offsets,
    ack_records,
    dedupe_acked,
    install_commit_offsets,
)
from streams.faust_adapter.batch_fetch import FetchedBatches, Run, install_batch_fetch
from streams.faust_adapter.lag import (
    committed_offset,
    handed_over,
    partition_highwaters,
    partition_lags,
    update_lag_gauge,
)
from streams.logs import log
from streams.views.metrics import KpiCollector, PipelineMetrics
from streams.worker.batching import decode_batch
from streams.worker.codec import DecodeFailure, encode_event
from streams.worker.deadletter import LogBudget, deadletter_record
from streams.worker.gap_fill import FilledGap, GapFiller
from streams.worker.ordering import Gap, PartitionOrder, Plan
from streams.worker.screening import engine_refusals, screen_batch
from streams.worker.stalls import Behind, StallWatch
from streams.worker.state_store import QueueStateStore

__all__ = ["WorkerRuntime", "build_app"]

logger = logging.getLogger("ccpulse.worker")

LAG_INTERVAL_SECONDS = 2.0
STALL_CHECK_SECONDS = 1.0
SNAPSHOT_TICK_SECONDS = 1.0
SNAPSHOT_SLICE_SECONDS = 0.005
"""Longest stretch of KPI snapshot computing before the event loop is given back."""
CHANGELOG_BACKLOG_EVENTS = 40_000
"""Events applied and not yet in Kafka (staged or on their way) above which the batch task
waits for the changelog before it applies more: many seconds of a busy centre's events, a
fraction of a second of a worker draining a backlog (streams/worker/state_store.py)."""
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
    fetched: FetchedBatches | None = None
    """Source records fetched and not yet applied (streams/faust_adapter/batch_fetch.py)."""
    apply_remaining: Callable[[], Awaitable[int]] | None = None
    """Applies and commits what is fetched and not applied yet (for graceful shutdown)."""
    applying: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while records are planned and applied: by the batch task, the stalled-partition
    reader, and the revocation handler (which waits for the batch in progress)."""

    intervals: Any = None
    """streams.worker.intervals.IntervalPublisher: closed intervals to ``ccpulse.intervals``."""
    kpi_metric_names: frozenset[str] = frozenset()
    """The metric names read from the snapshots (streams/views/metrics.py)."""
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


_FAUST_VIEWS = ("router", "tables", "graph", "stats", "metrics")
"""Faust's built-in web views (``/router``, ``/table``, ``/graph``, its statistics at ``/``,
``/performance``), each switched by a ``web_<name>_enabled`` setting."""


def _faust_settings(config: Config) -> dict[str, Any]:
    from streams.broker.settings import faust_broker_settings

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
        # Faust's own views show internals (table contents, partition assignment, sensors,
        # the service graph) to anybody who can reach the port: all off.
        **{f"web_{name}_enabled": False for name in _FAUST_VIEWS},
        # aiohttp's limit for request.read()/post(); ccpulse's POST views read their bodies
        # through streams/views/request_body.py with the same limit (Faust's reader has none).
        "web_application_options": {"client_max_size": worker.max_body_bytes},
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
    from streams.faust_adapter.consumer import install_fetch_wait

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
    store = runtime.store = QueueStateStore(
        table, runtime.engine, on_failure=lambda error: _changelog_failed(app, error)
    )
    from streams.worker.intervals import IntervalPublisher

    runtime.intervals = IntervalPublisher(
        app.topic(topics.intervals, key_type=bytes, value_type=bytes, partitions=1),
        runtime.engine,
        store.deliveries,
    )
    runtime.order = PartitionOrder(lambda key: _resume_offset(app, key))
    runtime.gaps = GapFiller(config.kafka, config.worker.gap_fill_warn_seconds)
    runtime.fetched = FetchedBatches(
        (topics.telephony, topics.ticketing), max_buffered=4 * config.worker.batch_max_events
    )
    install_batch_fetch(app, runtime.fetched)
    install_commit_offsets()
    _register_agent(app, runtime, source, ticketing, deadletter, store)
    _register_lifecycle(app, runtime, table, store)
    from streams.alerting.runtime import install_alerts

    install_alerts(app, runtime, table, (topics.telephony, topics.ticketing))
    from streams.views.routes import register_views

    register_views(app, runtime)
    return app, runtime


def _resume_offset(app: faust.App, key: tuple[str, int]) -> int | None:
    """Where a newly assigned partition resumes: the group's committed offset (None: the group
    never committed one, or committed 0: every record is read, and the engine skips per queue
    what it already applied).

    Only asked once the rebalance is over (:func:`_until_settled`): Faust learns the committed
    offsets of a new assignment in ``perform_seek``, at its very end.
    """
    return committed_offset(app.consumer, key)


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
        flush task to write and ack in one go (streams/worker/state_store.py). Never awaits."""
        # Decoding, key checks and tallies in one pass (streams/worker/batching.py); metrics are
        # touched once per batch and (topic, type), not once per event.
        decoded = decode_batch(planned, worker.max_event_bytes)
        refused = screen_batch(decoded, admission, runtime.engine, time.time())
        # Records this batch produces besides its deltas: its offsets are acked only once
        # they are in Kafka too (streams/worker/delivery.py).
        sent: list[Any] = []
        for message, failure in (*decoded.failures, *refused):
            sent.append(
                _dead_letter(deadletter, message, failure, worker.deadletter_original_bytes)
            )
            metrics.deadlettered.labels(message.topic, failure.reason_code).inc()
        for message, event in decoded.misrouted:
            # A producer that did not key by queue: re-key so the queue's state stays
            # on one partition. Counted, never dropped.
            sent.append(
                rekey[message.topic].send_soon(key=event.queue.encode(), value=message.value)
            )
            metrics.rekeyed.labels(message.topic).inc()
        for (topic, kind), count in decoded.counts.items():
            metrics.events.labels(topic, kind).inc(count)

        def ack() -> None:
            # Every record planned, applied or dropped (dead-lettered, re-keyed), and every
            # offset of a gap read, is done with once its delta is in Kafka. (A re-delivered record
            # was acked with the batch that applied it, or is below the committed offset.)
            for gap in filled:
                ack_offsets(app.consumer, gap.topic, gap.partition, gap.start, gap.end)
            ack_records(app.consumer, runs, consecutive=True)

        if not decoded.by_queue:
            store.stage((), ack, sent)
            return
        result = runtime.engine.apply_grouped(decoded.by_queue)
        for message, failure in engine_refusals(decoded, result.refused):
            sent.append(
                _dead_letter(deadletter, message, failure, worker.deadletter_original_bytes)
            )
            metrics.deadlettered.labels(message.topic, failure.reason_code).inc()
        for forward in result.forwarded:
            sent.append(
                ticketing.send_soon(key=forward.queue.encode(), value=encode_event(forward))
            )
        sent.extend(runtime.intervals.publish(result.touched))
        store.stage(decoded.applied, ack, sent)
        runtime.invalidate(result.touched)
        metrics.batches.inc()
        metrics.batch_events.observe(sum(map(len, planned)))
        metrics.owned_queues.set(len(runtime.engine.queues))

    @app.agent(source, name="ccpulse-kpis")
    async def kpi_agent(stream: Any) -> None:
        """Subscribes the worker to the source topics, so Faust assigns their partitions
        together with the table's. Their records never arrive here: the drain loop hands them
        to ``fetched`` in whole batches (streams/faust_adapter/batch_fetch.py), applied by
        ``apply_batches``.
        """
        async for _event in stream:
            pass

    async def apply_fetched(generation: int | None, runs: list[Run]) -> None:
        """Plan, apply and ack one batch of fetched source records, in runs of one partition's
        records (hold ``applying``)."""
        if generation != app.consumer_generation_id or not _settled(app, runtime):
            # Fetched before a rebalance, or one is under way: the assignment after it reads
            # these records again (Faust seeks to the committed offsets, and a hole the seek
            # leaves is read by the planner's gap reader).
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
            await _until_settled(app, runtime)
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
        them, and ack their offsets (group commit, streams/worker/state_store.py)."""
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
            # The acks wait for the records to be in Kafka (streams/worker/delivery.py).
            await store.all_delivered(SHUTDOWN_DELIVERY_SECONDS)
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
        return _settled(app, runtime) and key in partition_highwaters(app.consumer, source_topics)

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
        Faust commit what was applied (streams/worker/stalls.py)."""
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
                    # Every applied record's delta (and what it produced) in Kafka first:
                    # the acks below stand for all of them.
                    store.flush()
                    if await store.all_delivered(DELIVERY_WAIT_SECONDS) and still_owned(key):
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
        the interval (streams/worker/state_store.py); one log line per interval."""
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
    them (streams/worker/stalls.py). Call it holding the agent's lock, once what was staged is
    flushed and every record written is in Kafka: then every planned record is applied and
    its changelog delta is in Kafka.
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


REVOKE_DELIVERY_SECONDS = 20.0
"""Longest wait at a revocation for the records written so far to be in Kafka."""
SHUTDOWN_DELIVERY_SECONDS = 20.0
"""Longest wait at a graceful shutdown for the last batches' records before the commit."""


def _settled(app: faust.App, runtime: WorkerRuntime) -> bool:
    """No rebalance under way and the state table recovered for the current assignment.

    Nothing is planned or applied otherwise. During a rebalance Faust delivers records of the
    new assignment from wherever the consumer stood, before its table recovery has finished
    and before it has sought the partitions to their committed offsets (and learnt them).
    Applied then, a batch was overwritten by the recovery of its queues, while its offsets were
    acked and committed, and its delta (numbered from 1 again, before the recovered ones were
    known) could replace a recovered delta in the changelog: events lost for good (issue 26).
    An earlier version waited for the seek at most 10 s, then applied anyway.
    """
    return runtime.ready and not app.rebalancing


async def _until_settled(app: faust.App, runtime: WorkerRuntime) -> None:
    """Wait until :func:`_settled` (polled: Faust has no event for "rebalance over")."""
    while not _settled(app, runtime):
        await asyncio.sleep(SETTLE_POLL_SECONDS)


SETTLE_POLL_SECONDS = 0.01


def _redelivered(metrics: PipelineMetrics, order: PartitionOrder) -> None:
    for topic, count in order.redelivered.items():
        metrics.redelivered.labels(topic).inc(count)
        # Logged too: a worker killed by SIGKILL takes its counters with it.
        log(logger, "re-delivered records dropped", topic=topic, records=count)
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


def _dead_letter(topic: Any, message: Any, failure: DecodeFailure, keep_bytes: int) -> Any:
    """Send ``message`` to the dead-letter topic: a record of bounded size, whatever the
    original's (streams/worker/deadletter.py); its key is the original's, cut to the same bound.
    What the send returned."""
    source = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
    value = message.value if isinstance(message.value, bytes) else b""
    record = deadletter_record(
        value, failure.reason, failure.reason_code, source, keep_bytes=keep_bytes
    )
    key = message.key[:1024] if isinstance(message.key, bytes) else None
    sent = topic.send_soon(key=key, value=record)
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
    return sent


_DEADLETTER_LOG = LogBudget(lines=20, seconds=10.0)
"""A flood of bad records (20,000 made-up queues) must not become a flood of log lines: every
one is on the dead-letter topic and counted; the log shows 20 per 10 s and how many it skipped."""


def _changelog_failed(app: faust.App, error: BaseException) -> None:
    """A record the worker wrote never reached Kafka (after the producer's own retries): stop
    the worker. Nothing that depended on it was acked or deleted, so the next owner reads
    those events again from the last committed offsets (streams/worker/delivery.py)."""
    log(
        logger,
        "a changelog, dead-letter or forwarded record could not be written to Kafka: stopping "
        "the worker; offsets are committed only up to what is in Kafka",
        logging.CRITICAL,
        error=f"{type(error).__name__}: {error}"[:300],
    )
    _stopping.add(asyncio.ensure_future(app.crash(error)))


_stopping: set[asyncio.Future[Any]] = set()
"""The task that stops the worker after a failed write (a reference, so it is not collected)."""


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
        runtime.intervals.publish(queues, full=True)  # what was sent and not confirmed
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
        # The snapshots just written (and every record before them) in the changelog before
        # this rebalance completes: a new owner's own later snapshot can then never be
        # overwritten by this older one. Faust's producer flush is not enough: its buffer's
        # flush gives up after 0.1 s without a send (streams/worker/delivery.py).
        await app.producer.flush()
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
        # Source records are not Faust's stream's (streams/faust_adapter/batch_fetch.py): the batch
        # task's
        # records fetched and not applied yet are applied and committed here first.
        finished = await runtime.apply_remaining() if runtime.apply_remaining else 0
        written = store.write_snapshots()
        # In Kafka before Faust's last flush, so that the deltas they cover are deleted too.
        await store.all_delivered(SHUTDOWN_DELIVERY_SECONDS)
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
