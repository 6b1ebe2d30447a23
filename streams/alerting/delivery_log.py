"""Notifications delivered from the alerts topic, committed only once they are delivered.

The worker that owns a queue decides what to notify (streams/alerting/runtime.py) and publishes
it on the alerts topic as a ``notification`` record (:class:`NotificationPublisher`); nothing is
sent from there. :class:`NotificationLog` reads those records as one member of the consumer
group ``notify.consumer_group`` (every worker is a member; the topic's one partition is read by
one of them at a time), hands each to the :class:`~streams.alerting.dispatch.Dispatcher`, and
commits a record's offset only when every receiver accepted its notification or gave it up (a
failure then is counted, logged and written to the dead-letter topic with reason
``notification_failed``). A worker killed between the publication and the receiver's answer
leaves the offset uncommitted: the group's next member reads the record again and delivers it,
with the same idempotency key (the transition's id), so a receiver that got it twice drops one.

Records on the topic::

    {"kind": "notification", "action": "submit", "id": "<transition id>",
     "worker": "<app id>", "notification": {...streams.alerting.notification.Notification}}

``action`` is ``submit`` (a first notification, an escalation or a resolution) or ``track`` (a
firing alert restored after a rebalance: its repeats continue at the member that delivers).

Why aiokafka's consumer: the worker already runs on it (Faust), it commits explicitly
(``enable_auto_commit=False`` + ``commit({tp: offset})``) from the same event loop as the
dispatcher's tasks, so a delivery's end and its commit need no thread hand-over; kafka-python's
consumer would need a thread of its own polling and committing beside the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiokafka
import msgspec
from aiokafka import ConsumerRebalanceListener, TopicPartition

from streams.alerting.dispatch import Dispatcher
from streams.alerting.notification import Notification
from streams.alerting.silences import SilenceLog
from streams.broker.settings import aiokafka_kwargs
from streams.config import KafkaConfig
from streams.logs import log
from streams.worker.deadletter import deadletter_record

__all__ = ["NotificationLog", "NotificationPublisher", "NotificationRecord"]

logger = logging.getLogger("ccpulse.alerting")

_json = msgspec.json.Encoder()
_FETCH_MS = 500
_SESSION_TIMEOUT_MS = 10_000
"""A killed member's notifications move to another after this long (Kafka's minimum is 6 s)."""


class NotificationRecord(msgspec.Struct, kw_only=True):
    kind: str
    action: str = "submit"
    id: str = ""
    worker: str = ""
    notification: Notification | None = None


_decode = msgspec.json.Decoder(NotificationRecord)


class NotificationPublisher:
    """What the alert runtime calls instead of a dispatcher: each call becomes a record on the
    alerts topic (``topic`` is Faust's; ``send_soon`` keeps the KPI agent from waiting)."""

    def __init__(self, topic: Any, worker: str) -> None:
        self.topic = topic
        self.worker = worker

    def _publish(self, notification: Notification, action: str) -> asyncio.Future[Any]:
        record = NotificationRecord(
            kind="notification",
            action=action,
            id=notification.id,
            worker=self.worker,
            notification=notification,
        )
        return self.topic.send_soon(  # type: ignore[no-any-return]
            key=notification.fingerprint.encode(), value=_json.encode(record)
        )

    def submit(self, notification: Notification) -> asyncio.Future[Any]:
        """Publish it; the future is done once Kafka has the record (the alert runtime writes
        the state that says "notified" only then)."""
        return self._publish(notification, "submit")

    def track(self, notification: Notification) -> None:
        self._publish(notification, "track")

    def acknowledge(self, fingerprint: str) -> None:
        """Acknowledgements reach the delivering member through the silences topic."""

    def forget(self, fingerprint: str) -> None:
        """Nothing to do: delivery does not depend on which worker owns the queue."""


class _Revoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: NotificationLog) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        with contextlib.suppress(Exception):  # the group moved on: the next member redelivers
            await self.owner.commit()
        for tp in revoked:
            self.owner.open.pop(tp, None)
            self.owner.seen.pop(tp, None)
            self.owner.committed.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        # A group with no committed offset starts at the end; commit that position at once,
        # or a crash before the first commit would let the next member skip what came since.
        for tp in assigned:
            if await self.owner.consumer.committed(tp) is None:
                position = await self.owner.consumer.position(tp)
                await self.owner.consumer.commit({tp: position})


class NotificationLog:
    """Reads notification records as a member of the notify group and delivers them."""

    def __init__(
        self,
        kafka: KafkaConfig,
        topic: str,
        deadletter_topic: str,
        group: str,
        dispatcher: Dispatcher,
        silences: SilenceLog | None = None,
    ) -> None:
        self.kafka = kafka
        self.topic = topic
        self.deadletter_topic = deadletter_topic
        self.group = group
        self.dispatcher = dispatcher
        self.consumer: Any = None
        self._producer: Any = None
        self.open: dict[TopicPartition, set[int]] = {}
        """Offsets whose notification is still being delivered, per partition."""
        self.seen: dict[TopicPartition, int] = {}
        """Next offset after the last record handed over, per partition."""
        self.committed: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None
        dispatcher.on_failed = self._failed
        if silences is not None:
            silences.on_ack.append(self._acknowledged)
            dispatcher.muted = lambda n: any(
                s.matches(n.rule, n.queue, time.time()) for s in silences.silences.values()
            )

    async def start(self) -> None:
        client = aiokafka_kwargs(self.kafka)
        self._producer = aiokafka.AIOKafkaProducer(**client)
        await self._producer.start()
        self.consumer = aiokafka.AIOKafkaConsumer(
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            session_timeout_ms=_SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=_SESSION_TIMEOUT_MS // 4,
            fetch_max_wait_ms=_FETCH_MS,
            **client,
        )
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=_Revoke(self))
        self._task = asyncio.create_task(self._run(), name="ccpulse-notify-log")
        log(logger, "notification delivery from the alerts topic", group=self.group)

    async def close(self) -> None:
        """Stop reading and commit what was delivered; what is still being delivered stays
        uncommitted (the next member delivers it)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.commit()
        for client in (self.consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()

    async def _run(self) -> None:
        while True:
            try:
                batches = await self.consumer.getmany(timeout_ms=_FETCH_MS, max_records=500)
                for tp, records in batches.items():
                    for record in records:
                        self._handle(tp, record)
                await self.commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a rebalance or the broker away: the client recovers
                log(logger, "notification log read failed", logging.WARNING, error=exc)
                await asyncio.sleep(1.0)

    def _handle(self, tp: TopicPartition, record: Any) -> None:
        self.seen[tp] = record.offset + 1
        try:
            decoded = _decode.decode(record.value) if record.value else None
        except msgspec.DecodeError:
            decoded = None  # not ours to read (e.g. a record of a newer version): skip it
        if decoded is None or decoded.kind != "notification" or decoded.notification is None:
            return
        notification = decoded.notification
        if decoded.action == "track":
            self.dispatcher.track(notification)
            return
        offsets = self.open.setdefault(tp, set())
        offsets.add(record.offset)

        def done() -> None:
            offsets.discard(record.offset)

        self.dispatcher.submit(notification, done)

    async def commit(self) -> None:
        """Commit, per partition, up to the first record still being delivered."""
        if self.consumer is None:
            return
        offsets = {}
        for tp, next_offset in self.seen.items():
            open_offsets = self.open.get(tp)
            point = min(open_offsets) if open_offsets else next_offset
            if point > self.committed.get(tp, -1):
                offsets[tp] = point
        if offsets:
            await self.consumer.commit(offsets)
            self.committed.update(offsets)

    def _acknowledged(self, fingerprint: str, ack: Any) -> None:
        if ack is not None:
            self.dispatcher.acknowledge(fingerprint)

    def _failed(
        self, receiver: str, notification: Notification, kind: str, reason: str, error: str
    ) -> None:
        """Record a notification given up on the dead-letter topic (reason
        ``notification_failed``), beside the metric and the log line of the dispatcher."""
        if self._producer is None:
            return
        value = deadletter_record(
            msgspec.json.encode(notification),
            f"notification to {receiver} given up ({reason}): {error}",
            "notification_failed",
            {"topic": self.topic, "receiver": receiver, "kind": kind, "id": notification.id},
        )
        task = asyncio.get_running_loop().create_task(
            self._producer.send_and_wait(
                self.deadletter_topic, key=notification.fingerprint.encode(), value=value
            )
        )
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log(logger, "dead-letter record not written", logging.ERROR, error=task.exception())
