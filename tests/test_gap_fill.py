"""streams/worker/gap_fill.py on the real embedded broker: a gap's records, read outside the group."""

from __future__ import annotations

import asyncio

import pytest
from kafka import KafkaProducer

from streams.broker.topics import TopicSpec, ensure_topics
from streams.config import KafkaConfig
from streams.worker.gap_fill import GapFiller
from streams.worker.ordering import Gap
from tests.worker_proc import Broker

pytestmark = pytest.mark.integration


def test_gaps_are_read_in_offset_order_up_to_the_delivered_record(
    broker: Broker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.gaps"
    ensure_topics(broker.bootstrap, [TopicSpec(topic, 2, 1)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20)
    for partition in (0, 1):
        for i in range(40):
            producer.send(topic, key=b"q", value=f"{partition}:{i}".encode(), partition=partition)
    producer.flush()
    producer.close()
    filler = GapFiller(KafkaConfig(bootstrap=broker.bootstrap), warn_seconds=5.0)

    async def fill() -> list[list[tuple[int, int, bytes]]]:
        try:
            filled = await filler.fill([Gap(topic, 1, 10, 17), Gap(topic, 0, 0, 3)])
            return [[(r.partition, r.offset, r.value) for r in f.records] for f in filled]
        finally:
            await filler.stop()

    first, second = asyncio.run(fill())
    assert first == [(1, o, f"1:{o}".encode()) for o in range(10, 17)]
    assert second == [(0, o, f"0:{o}".encode()) for o in range(0, 3)]
