"""The worker's alerting wired into its Faust app: the evaluation timer, the recovery and
revocation hooks, the dispatcher's lifecycle and the alert API (streams/views/alerts.py).

The evaluation itself is :class:`streams.alerting.runtime.AlertRuntime`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Any

import faust

from streams.alerting.delivery_log import NotificationLog, NotificationPublisher
from streams.alerting.dispatch import Dispatcher
from streams.alerting.runtime import ALERT_SLICE_SECONDS, AlertRuntime
from streams.alerting.silences import SilenceLog
from streams.faust_adapter.lag import partition_highwaters
from streams.worker.runtime import WorkerRuntime

__all__ = ["events_behind", "install_alerts"]

logger = logging.getLogger("ccpulse.alerts")


def events_behind(app: faust.App, runtime: WorkerRuntime, source_topics: Collection[str]) -> int:
    """Events in the worker's source partitions it has not applied yet: per partition, its
    highwater (as of the last fetch) minus the next offset to apply."""
    order = runtime.order
    if order is None:
        return 0
    highwaters = partition_highwaters(app.consumer, source_topics)
    return sum(max(0, highwater - order.expected(key)) for key, highwater in highwaters.items())


def install_alerts(
    app: faust.App, runtime: WorkerRuntime, table: Any, source_topics: Iterable[str]
) -> None:
    """Register the alert timer, recovery/revoke hooks, the delivery from the alerts topic, the
    cluster's silences, and the HTTP views."""
    config = runtime.config
    topic = app.topic(config.topics.alerts, key_type=bytes, value_type=bytes, partitions=1)
    dispatcher = Dispatcher(config.notify, runtime.registry)
    silence_log = SilenceLog(config.kafka, config.topics.silences, config.topics.replication_factor)
    publisher = NotificationPublisher(topic, config.worker.app_id)
    alerts = runtime.alerts = AlertRuntime(
        runtime, table, topic, publisher, runtime.registry, silence_log
    )
    delivery = NotificationLog(
        config.kafka,
        config.topics.alerts,
        config.topics.deadletter,
        config.notify.consumer_group or f"{config.worker.app_id}-notify",
        dispatcher,
        silence_log,
    )
    sources = set(source_topics)

    @app.timer(interval=config.alerts.evaluate_interval_seconds)
    async def evaluate_alerts() -> None:
        try:
            if alerts.hold(events_behind(app, runtime, sources)):
                return
            # Snapshots computed with the event loop given back now and then
            # (streams/worker/runtime.py).
            await alerts.tick_in_slices(await runtime.fresh_snapshots(), ALERT_SLICE_SECONDS)
        except Exception:
            # A timer that raises is not restarted by Faust: alerting would stop silently.
            alerts.errors.inc()
            logger.exception("alert evaluation failed")

    @app.task
    async def start_notifications() -> None:
        await dispatcher.start()
        await silence_log.start()
        await delivery.start()

    @table.on_recover
    async def restore_alerts() -> None:
        assigned = app.assignor.assigned_actives()
        alerts.restore({tp.partition for tp in assigned if tp.topic in sources})

    @app.on_partitions_revoked.connect
    async def forget_alerts(sender: Any, revoked: Any, **_: Any) -> None:
        alerts.forget({tp.partition for tp in revoked if tp.topic in sources})

    @app.on_before_shutdown.connect
    async def close_notifications(sender: Any, **_: Any) -> None:
        await delivery.close()
        await dispatcher.close(timeout=5.0)
        await silence_log.close()

    from streams.views.alerts import register_alert_views

    register_alert_views(app, runtime)
    del evaluate_alerts, start_notifications, restore_alerts, forget_alerts, close_notifications
