"""The Apache Kafka of the tests (tests/kafka_broker.py) with the two clients ccpulse pins:
kafka-python (topics, simulator, ingest, tests) and aiokafka (Faust's worker). Each creates a
topic, produces keyed records, and reads them back in a consumer group that commits."""

from __future__ import annotations

import asyncio
import re

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from tests.kafka_broker import KafkaBroker, deployed_settings, kafka_version, replication_settings

pytestmark = pytest.mark.integration


def test_kafka_python_creates_produces_and_consumes(broker: KafkaBroker, topic_prefix: str) -> None:
    topic = f"{topic_prefix}.kafka-python"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 3, 1)])
        assert topic in admin.list_topics()
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    sent = [f"{i}".encode() for i in range(300)]
    for value in sent:
        producer.send(topic, key=value[-1:], value=value)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=f"{topic_prefix}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    try:
        received = []
        for record in consumer:
            received.append(record.value)
            if len(received) == len(sent):
                break
        consumer.commit()
        partitions = [TopicPartition(topic, p) for p in range(3)]
        committed = sum(consumer.committed(tp) or 0 for tp in partitions)
    finally:
        consumer.close()
    assert sorted(received) == sorted(sent)
    assert committed == len(sent)


def test_aiokafka_creates_produces_and_consumes(broker: KafkaBroker, topic_prefix: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka import TopicPartition as AioPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin import NewTopic as AioNewTopic

    topic = f"{topic_prefix}.aiokafka"
    sent = [f"{i}".encode() for i in range(300)]

    async def roundtrip() -> tuple[list[bytes], dict[AioPartition, int], int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([AioNewTopic(topic, 2, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
        await producer.start()
        try:
            for value in sent:
                await producer.send(topic, value, key=value[-1:])
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap,
            group_id=f"{topic_prefix}-aio",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            received: list[bytes] = []
            for _ in range(30):
                batches = await consumer.getmany(timeout_ms=1000)
                received += [r.value for records in batches.values() for r in records]
                if len(received) >= len(sent):
                    break
            await consumer.commit()
            partitions = [AioPartition(topic, p) for p in range(2)]
            ends = await consumer.end_offsets(partitions)
            committed = sum([await consumer.committed(tp) or 0 for tp in partitions])
        finally:
            await consumer.stop()
        return received, ends, committed

    received, ends, committed = asyncio.run(roundtrip())
    assert sorted(received) == sorted(sent)
    # ListOffsets "latest" is right with many records per batch (unlike the embedded broker).
    assert sum(ends.values()) == len(sent)
    assert committed == len(sent)


def test_the_broker_runs_the_pinned_version_with_the_deployed_settings(broker: KafkaBroker) -> None:
    """What the broker itself logged at startup (its version, and its KafkaConfig values)."""
    log = broker.log_path.read_text(errors="replace")
    assert f"Kafka version: {kafka_version()} " in log
    expected = {**deployed_settings(), **replication_settings(1)}
    logged = dict(re.findall(r"^\t([a-z0-9.]+) = (.*)$", log, re.M))
    assert {key: logged.get(key) for key in expected} == expected
