"""The delivery log against Apache Kafka (the ``broker`` fixture) and real HTTP receivers: the
group's offset moves past a notification only once it was accepted, or given up and written to
the dead-letter topic with reason ``notification_failed``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest
from aiokafka import TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client import CollectorRegistry

from streams.alerting import Dispatcher, NotifyConfig
from streams.alerting.delivery_log import NotificationLog, NotificationRecord
from streams.broker.topics import TopicSpec, ensure_topics
from streams.config import KafkaConfig
from tests.test_notify_completion import TRANSITION
from tests.test_notify_dispatch import FAST, HookServer, until
from tests.worker_proc import Broker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def committed_to(log: NotificationLog, topic: str, offset: int) -> None:
    """Wait until the group's committed offset (asked of the broker) is ``offset``."""
    tp = TopicPartition(topic, 0)
    for _ in range(600):
        if await log.consumer.committed(tp) == offset:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"committed offset never became {offset}")


def deadletters(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=1500
    )
    records = [json.loads(m.value) for m in consumer]
    consumer.close()
    return records


def test_offsets_are_committed_after_delivery_or_a_recorded_failure(
    broker: Broker, topic_prefix: str
) -> None:
    alerts, deadletter, group = f"{topic_prefix}.alerts", f"{topic_prefix}.deadletter", "g1"
    ensure_topics(broker.bootstrap, [TopicSpec(alerts, 1), TopicSpec(deadletter, 1)])

    async def main() -> None:
        accepting = await HookServer(stall_first=1, stall=2.0).start()
        refusing = await HookServer(fail_first=99, fail_status=422).start()
        notify = {
            "receivers": {
                "ok": {"kind": "webhook", "url": accepting.url, **FAST},
                "bad": {"kind": "webhook", "url": refusing.url, **FAST},
            },
            "default_receivers": ["ok", "bad"],
        }
        registry = CollectorRegistry()
        dispatcher = Dispatcher(msgspec.convert(notify, NotifyConfig), registry)
        log = NotificationLog(
            KafkaConfig(bootstrap=broker.bootstrap), alerts, deadletter, group, dispatcher
        )
        await dispatcher.start()
        await log.start()
        # The group's start position is committed at once (nothing before it is skipped later).
        await committed_to(log, alerts, 0)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        record = NotificationRecord(kind="notification", id=TRANSITION.id, notification=TRANSITION)
        producer.send(alerts, key=b"asa_high/billing", value=b'{"kind": "transition"}')
        producer.send(alerts, key=b"asa_high/billing", value=msgspec.json.encode(record))
        producer.flush()
        producer.close()
        # The transition record is passed over; the notification holds the offset at 1 while
        # the accepting receiver holds its answer.
        await until(lambda: len(accepting.requests) == 1)
        await committed_to(log, alerts, 1)
        delivered = {"receiver": "ok", "status": "firing"}
        assert registry.get_sample_value("ccpulse_alert_notifications_total", delivered) == 0
        await committed_to(log, alerts, 2)
        assert [b["id"] for b in accepting.accepted()] == [TRANSITION.id]
        await log.close()
        await dispatcher.close()
        await accepting.stop()
        await refusing.stop()

    asyncio.run(main())
    (failed,) = deadletters(broker.bootstrap, deadletter)
    assert failed["reason_code"] == "notification_failed"
    assert failed["source"] == {
        "topic": alerts,
        "receiver": "bad",
        "kind": "firing",
        "id": TRANSITION.id,
    }
    assert "HTTP 422" in failed["reason"]
    assert json.loads(failed["original_text"])["fingerprint"] == TRANSITION.fingerprint
