"""Kafka side of the benchmark: filling topics, and the ceiling (a plain aiokafka consumer).

The ceiling is what the client library and the broker can deliver on this machine with no
processing at all: the worker's throughput is reported as a fraction of it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from bench.workload import Record
from processors.events import CallBlocked

__all__ = [
    "ROUNDTRIP_QUEUE",
    "broker_roundtrip",
    "ceiling",
    "committed_total",
    "consumer_performance",
    "parse_consumer_performance",
    "produce",
]

ROUNDTRIP_QUEUE = "bench-roundtrip"
_encoder = msgspec.json.Encoder()


def produce(bootstrap: str, topics: dict[str, str], records: Sequence[Record]) -> float:
    """Send ``records`` (keyed by queue) and wait until all are acknowledged; returns seconds."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    started = time.perf_counter()
    try:
        for family, key, value in records:
            producer.send(topics[family], key=key, value=value)
        producer.flush()
    finally:
        producer.close()
    return time.perf_counter() - started


async def consumer_from_start(bootstrap: str, topic_names: list[str]) -> Any:
    """A started aiokafka consumer outside any group, assigned every partition of
    ``topic_names`` and positioned at their beginning (the caller stops it)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    partitions = [
        TopicPartition(name, p)
        for name in topic_names
        for p in sorted(await _partitions(consumer, name))
    ]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return consumer


async def _consume_all(bootstrap: str, topic_names: list[str], expected: int) -> dict[str, Any]:
    consumer = await consumer_from_start(bootstrap, topic_names)
    try:
        count = 0
        payload = 0
        first: float | None = None
        first_batch = 0
        deadline = time.monotonic() + 120.0
        while count < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            got = 0
            for messages in batches.values():
                got += len(messages)
                for message in messages:
                    payload += len(message.value or b"")
            if got and first is None:
                first, first_batch = time.perf_counter(), got
            count += got
        end = time.perf_counter()
    finally:
        await consumer.stop()
    if first is None or count <= first_batch:
        return {"events": count, "rate": None}
    seconds = end - first
    return {
        "events": count,
        "seconds": seconds,
        "rate": (count - first_batch) / seconds,
        "mean_value_bytes": payload / count,
    }


async def _partitions(consumer: Any, name: str) -> set[int]:
    # Metadata for a topic may need one refresh after start on a fresh broker.
    for _ in range(50):
        found = consumer.partitions_for_topic(name)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()  # aiokafka: no public call
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no partitions for topic {name}")


def ceiling(bootstrap: str, topic_names: list[str], expected: int) -> dict[str, Any]:
    """Raw consume rate (events/s) of a plain aiokafka consumer over the pre-produced topics,
    timed from the first fetched batch to the last event (connection set-up left out)."""
    return asyncio.run(_consume_all(bootstrap, topic_names, expected))


def parse_consumer_performance(output: str) -> dict[str, Any]:
    """The figures of ``kafka-consumer-perf-test.sh`` (``ConsumerPerformance``) from its
    output: a header line of comma-separated names starting with ``start.time`` and the line of
    values under it. ``fetch_rate`` (``fetch.nMsg.sec``) leaves the group's join out, as the
    ceiling leaves out the connection set-up; ``rate`` (``nMsg.sec``) counts it."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    header = next((i for i, line in enumerate(lines) if line.startswith("start.time")), None)
    if header is None or header + 1 >= len(lines):
        raise ValueError(f"no ConsumerPerformance figures in its output: {output[-500:]!r}")
    names = [name.strip() for name in lines[header].split(",")]
    # The tool's own log lines may come between the header and the values (on stdout too).
    rows = [line.split(",") for line in lines[header + 1 :] if line[:1].isdigit()]
    values = next((row for row in rows if len(row) == len(names)), rows[0] if rows else [])
    if len(values) != len(names):
        raise ValueError(f"ConsumerPerformance: {len(names)} names, {len(values)} values")
    row = dict(zip(names, [value.strip() for value in values], strict=True))
    return {
        "events": int(row["data.consumed.in.nMsg"]),
        "megabytes": float(row["data.consumed.in.MB"]),
        "rate": float(row["nMsg.sec"]),
        "fetch_rate": float(row["fetch.nMsg.sec"]),
        "rebalance_ms": float(row["rebalance.time.ms"]),
        "fetch_ms": float(row["fetch.time.ms"]),
    }


def consumer_performance(bootstrap: str, topic: str, messages: int) -> dict[str, Any]:
    """Kafka's own consumer benchmark (``org.apache.kafka.tools.ConsumerPerformance``, the
    Java client, from the jars of deploy/kafka/pom.xml) reading ``messages`` records of
    ``topic`` from its start: a second reference beside the aiokafka ceiling. It reads one
    topic only. A failure is reported in the result, not raised: it is a reference figure."""
    from tests.kafka_broker import KAFKA_DIR, classpath

    java = shutil.which("java")
    if java is None:
        return {"topic": topic, "error": "java not found"}
    command = [
        java,
        "-Xmx256m",
        "-XX:+UseSerialGC",
        f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
        "-cp",
        classpath(),
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--num-records",  # --messages before Kafka 4.2 (still read, with a warning)
        str(messages),
        "--timeout",
        "30000",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    try:
        figures = parse_consumer_performance(done.stdout)
    except ValueError as error:
        return {"topic": topic, "error": f"{error}; stderr: {done.stderr[-300:]}"}
    return {"topic": topic, **figures}


def committed_total(admin: Any, group: str) -> int:
    """Sum of the consumer group's committed offsets (= events consumed and committed)."""
    offsets = admin.list_group_offsets(group).get(group, {})
    return sum(meta.offset for meta in offsets.values() if meta.offset >= 0)


async def _roundtrip(bootstrap: str, topic: str, markers: int, fetch_wait_ms: int) -> list[float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    # The same fetch wait as the worker's consumer (worker.fetch_max_wait_ms).
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        fetch_max_wait_ms=fetch_wait_ms,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    latencies: list[float] = []
    try:
        await asyncio.sleep(2.0)
        for index in range(markers):
            # A valid event of a queue of its own, so the worker applies it like any other
            # (an invalid one would be dead-lettered and skew what the worker is doing).
            event = CallBlocked(
                id=f"bench-roundtrip-{index}",
                time=datetime.now(UTC),
                queue=ROUNDTRIP_QUEUE,
                call_id=f"bench-roundtrip-{index}",
                reason="other",
            )
            value = _encoder.encode(event)
            sent = time.perf_counter()
            await producer.send_and_wait(topic, key=ROUNDTRIP_QUEUE.encode(), value=value)
            deadline = sent + 10.0
            found = False
            while not found and time.perf_counter() < deadline:
                fetched = await consumer.getmany(timeout_ms=100)
                found = any(m.value == value for batch in fetched.values() for m in batch)
            if found:
                latencies.append(time.perf_counter() - sent)
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies


def broker_roundtrip(
    bootstrap: str, topic: str, markers: int = 30, fetch_wait_ms: int = 1500
) -> list[float]:
    """Produced -> fetched by a plain aiokafka consumer with the worker's fetch wait, in
    seconds, one marker at a time: the broker's and client's share of any freshness figure."""
    return asyncio.run(_roundtrip(bootstrap, topic, markers, fetch_wait_ms))
