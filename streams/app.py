"""The Faust application: wiring only. :func:`build_app` reads as the worker's table of contents.

One record's path (docs/architecture.md): a message on ``ccpulse.telephony`` or
``ccpulse.ticketing`` (keyed by queue) -> the worker's Faust consumer fetches it and hands the
whole fetch over (streams/faust_adapter/, behind :class:`streams.worker.source.SourceConsumer`)
-> :class:`streams.worker.checkpoint.Checkpoint` plans it in offset order, reads gaps, decodes,
screens, applies it to :class:`processors.engine.KpiEngine` (its KPIs are visible), stages and
writes its deltas, and marks its offsets committable once they are in Kafka; Faust's commit
timer commits them -> /metrics and /api/kpis read snapshots from the engine
(streams/views/routes.py, streams/worker/runtime.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from processors.engine import KpiEngine
from streams.broker.topics import TABLE_NAME, changelog_topic
from streams.config import Config
from streams.faust_adapter.lag import partition_lags, update_lag_gauge
from streams.faust_adapter.recovery_watch import RecoveryWatch
from streams.faust_adapter.source import FaustSource
from streams.faust_adapter.web import drop_root_blueprints
from streams.logs import log
from streams.views.exposition import KpiPage
from streams.views.metrics import PipelineMetrics
from streams.worker.checkpoint import Checkpoint
from streams.worker.gap_fill import GapFiller
from streams.worker.interval_sender import IntervalSender
from streams.worker.intervals import REPUBLISH_SECONDS, IntervalPublisher
from streams.worker.ordering import PartitionOrder
from streams.worker.outputs import Outputs
from streams.worker.recovery import Recovery, SnapshotWriter
from streams.worker.runtime import WorkerRuntime
from streams.worker.stall_reader import STALL_CHECK_SECONDS, StallReader
from streams.worker.state_store import QueueStateStore

__all__ = ["TABLE_NAME", "WorkerRuntime", "build_app"]

logger = logging.getLogger("ccpulse.worker")

LAG_INTERVAL_SECONDS = 2.0
SNAPSHOT_TICK_SECONDS = 1.0
RECOVERY_CHECK_SECONDS = 1.0


def build_app(config: Config) -> tuple[faust.App, WorkerRuntime]:
    """The Faust app for ``config``, with its checkpoint, timers, hooks and web views."""
    app = faust.App(config.worker.app_id, **_faust_settings(config))
    topics = config.topics
    source_topics = (topics.telephony, topics.ticketing)
    # First: the consumer Faust builds is the adapter's (streams/faust_adapter/consumer.py).
    source = FaustSource(
        app,
        source_topics,
        max_buffered=4 * config.worker.batch_max_events,
        fetch_max_wait_ms=config.worker.consumer_fetch_wait_ms(),
    )
    runtime = _runtime(config, source)
    table = app.Table(
        TABLE_NAME, default=None, partitions=topics.partitions, key_type=bytes, value_type=bytes
    )
    store = runtime.store = QueueStateStore(
        table, runtime.engine, on_failure=lambda error: _changelog_failed(app, error)
    )
    runtime.intervals = IntervalPublisher(
        IntervalSender(config.kafka, topics.intervals),
        runtime.engine,
        store.deliveries,
    )
    runtime.order = PartitionOrder(source.committed)
    runtime.gaps = GapFiller(config.kafka, config.worker.gap_fill_warn_seconds)
    checkpoint = Checkpoint(runtime, source, _outputs(app, config, runtime))
    _subscribe(app, source_topics)
    _register_checkpoint(app, checkpoint)
    recovery = Recovery(
        checkpoint, source_topics, app.producer.flush, changelog_topic(config.worker.app_id)
    )
    _register_lifecycle(app, table, recovery)
    _register_lag(app, runtime, source)
    _register_recovery_watch(app, runtime, source)
    from streams.alerting.install import install_alerts

    install_alerts(app, runtime, table, source_topics)
    from streams.worker.loop_lag import install_loop_lag_probe

    install_loop_lag_probe(app, registry=runtime.registry)
    from streams.views.routes import register_views
    from streams.views.wallboard import ROOT_BLUEPRINTS

    drop_root_blueprints(app, ROOT_BLUEPRINTS)  # the wallboard takes ``/``
    register_views(app, runtime)
    return app, runtime


def _runtime(config: Config, source: FaustSource) -> WorkerRuntime:
    """The runtime, its engine, its Prometheus registry and its /metrics KPI page."""
    registry = CollectorRegistry(auto_describe=True)
    runtime = WorkerRuntime(
        config=config,
        engine=KpiEngine(config.engine),
        registry=registry,
        metrics=PipelineMetrics(registry),
        source=source,
    )
    # The KPI families are rendered by the page, not by the registry (streams/views/exposition.py).
    runtime.kpi_page = KpiPage(per_channel=config.metrics.per_channel)
    return runtime


def _outputs(app: faust.App, config: Config, runtime: WorkerRuntime) -> Outputs:
    """The topics a batch produces to besides the changelog."""
    topics = config.topics
    return Outputs(
        deadletter=app.topic(topics.deadletter, key_type=bytes, value_type=bytes, partitions=1),
        rekey={
            name: app.topic(name, key_type=bytes, value_type=bytes)
            for name in (topics.telephony, topics.ticketing)
        },
        ticketing=app.topic(topics.ticketing, key_type=bytes, value_type=bytes),
        metrics=runtime.metrics,
        keep_bytes=config.worker.deadletter_original_bytes,
    )


def _subscribe(app: faust.App, source_topics: tuple[str, ...]) -> None:
    """An agent on the source topics, so that Faust subscribes the worker to them and assigns
    their partitions together with the table's. No record ever reaches it: the consumer hands
    them to the checkpoint in whole fetches (streams/faust_adapter/batch_fetch.py)."""
    source = app.topic(*source_topics, key_type=bytes, value_type=bytes)

    @app.agent(source, name="ccpulse-kpis")
    async def kpi_agent(stream: Any) -> None:
        async for _event in stream:
            pass

    del kpi_agent


def _register_checkpoint(app: faust.App, checkpoint: Checkpoint) -> None:
    """The checkpoint's tasks (apply fetched batches; write the changelog) and its timers
    (stalled partitions; due snapshots)."""
    stalls = StallReader(checkpoint)
    snapshots = SnapshotWriter(checkpoint)
    interval = min(SNAPSHOT_TICK_SECONDS, checkpoint.worker.snapshot_interval_seconds)

    @app.task
    async def apply_batches() -> None:
        await checkpoint.run()

    @app.task
    async def write_changelog() -> None:
        await checkpoint.write()

    @app.timer(interval=STALL_CHECK_SECONDS)
    async def read_stalled_partitions() -> None:
        await stalls.check()

    @app.timer(interval=interval)
    async def snapshot_state() -> None:
        await snapshots.tick()

    del apply_batches, write_changelog, read_stalled_partitions, snapshot_state


def _register_lifecycle(app: faust.App, table: Any, recovery: Recovery) -> None:
    """Faust's rebalance and shutdown hooks, answered by streams/worker/recovery.py."""

    @table.on_recover
    async def rebuild() -> None:
        await recovery.rebuild()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **_: Any) -> None:
        await recovery.revoked([(tp.topic, tp.partition) for tp in revoked])

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        recovery.assigned([(tp.topic, tp.partition) for tp in assigned])

    @app.on_before_shutdown.connect
    async def on_shutdown(sender: Any, **_: Any) -> None:
        await recovery.shut_down()

    del rebuild, on_revoked, on_assigned, on_shutdown


def _register_recovery_watch(app: faust.App, runtime: WorkerRuntime, source: FaustSource) -> None:
    """A table recovery that stopped making progress is started again, and after a few
    restarts without progress the worker stops (streams/faust_adapter/recovery_watch.py)."""
    fetched = source.fetched
    seen = [fetched.polls, fetched.others_handed_over]

    def drain_loop() -> dict[str, Any]:
        polls, handed = fetched.polls - seen[0], fetched.others_handed_over - seen[1]
        seen[:] = [fetched.polls, fetched.others_handed_over]
        return {"fetches_since_last_check": polls, "changelog_records_handed_over": handed}

    def stop(error: BaseException) -> None:
        _stopping.add(asyncio.ensure_future(app.crash(error)))

    watch = RecoveryWatch(
        app,
        runtime.config.worker.recovery_stall_seconds,
        runtime.metrics.recovery_restarts,
        describe=drain_loop,
        stop=stop,
    )

    @app.timer(interval=RECOVERY_CHECK_SECONDS)
    async def watch_recovery() -> None:
        await watch.check(time.monotonic())

    del watch_recovery


def _register_lag(app: faust.App, runtime: WorkerRuntime, source: FaustSource) -> None:
    @app.timer(interval=LAG_INTERVAL_SECONDS)
    async def measure_lag() -> None:
        update_lag_gauge(runtime.metrics.lag, partition_lags(source.highwaters(), source.committed))

    @app.timer(interval=REPUBLISH_SECONDS)
    async def republish_intervals() -> None:
        # Changes to intervals already published (streams/worker/intervals.py); not while
        # recovering or rebalancing: the recovery's full look covers those queues.
        if runtime.intervals is not None and runtime.settled():
            runtime.intervals.flush()

    del measure_lag, republish_intervals


def _changelog_failed(app: faust.App, error: BaseException) -> None:
    """A record the worker wrote never reached Kafka (after the producer's own retries): stop
    the worker. Nothing that depended on it was marked committable or deleted, so the next
    owner reads those events again from the last committed offsets
    (streams/worker/delivery.py)."""
    log(
        logger,
        "a changelog, interval, dead-letter or forwarded record could not be written to Kafka: "
        "stopping the worker; offsets are committed only up to what is in Kafka",
        logging.CRITICAL,
        error=f"{type(error).__name__}: {error}"[:300],
    )
    _stopping.add(asyncio.ensure_future(app.crash(error)))


_stopping: set[asyncio.Future[Any]] = set()
"""The task that stops the worker after a failed write (a reference, so it is not collected)."""


_FAUST_VIEWS = ("router", "tables", "graph", "stats", "metrics")
"""Faust's built-in web views (``/router``, ``/table``, ``/graph``, its statistics at ``/``,
``/performance``), each switched by a ``web_<name>_enabled`` setting."""


def _faust_settings(config: Config) -> dict[str, Any]:
    from streams.broker.settings import faust_broker_settings
    from streams.faust_adapter.startup import PromptTableManager

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
        "broker_session_timeout": worker.consumer_session_timeout(),
        "broker_heartbeat_interval": worker.consumer_session_timeout() / 6,
        # Faust's commit timer commits what the checkpoint marked committable
        # (streams/worker/checkpoint.py); ``broker_commit_every`` counts acks of Faust's own
        # streams, which the source records never pass through: not set.
        "broker_commit_interval": 1.0,
        # Faust's table manager sleeps 1 s before its first rebalance (streams/faust_adapter/
        # startup.py): every start and restart is a second shorter without it.
        "TableManager": PromptTableManager,
    }
    if worker.embedded_broker:
        # Tansu answers ListOffsets "latest" wrongly for multi-record producer batches, which
        # breaks table recovery: one record per batch on the embedded broker only.
        settings["producer_max_batch_size"] = 1
    return settings
