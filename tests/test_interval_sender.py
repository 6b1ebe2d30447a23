"""The interval records' sender (streams/worker/interval_sender.py), against the real brokers:
every record arrives, in the order sent, the futures are done only once they are in Kafka, a
batch never exceeds its size, and a broker that cannot be reached, or refuses a batch, fails
what waits."""

from __future__ import annotations

import asyncio

import pytest
from kafka import KafkaConsumer

from streams.broker.embedded import EmbeddedBroker
from streams.broker.topics import TopicSpec, ensure_topics
from streams.config import KafkaConfig
from streams.offline.report import read_intervals
from streams.worker.delivery import Deliveries
from streams.worker.interval_sender import IntervalSender
from tests.servers import free_port
from tests.worker_proc import Broker


def _read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    try:
        out: list[tuple[bytes, bytes]] = []
        for message in consumer:
            out.append((message.key, message.value))
            if len(out) >= expected:
                break
        return out
    finally:
        consumer.close()


def _records(send: int, each: int, size: int) -> list[list[tuple[bytes, bytes]]]:
    return [
        [(f"q{s}|{i}".encode(), f"{s}:{i}:".encode().ljust(size, b"x")) for i in range(each)]
        for s in range(send)
    ]


async def _send_all(sender: IntervalSender, sends: list[list[tuple[bytes, bytes]]]) -> None:
    futures = [sender.send(records) for records in sends]
    try:
        await asyncio.wait_for(asyncio.gather(*futures), 60)
    finally:
        await sender.stop()


@pytest.mark.parametrize("batch_bytes", [512 * 1024, 4096], ids=["whole", "small"])
def test_every_record_arrives_in_the_order_sent(
    broker: Broker, topic_prefix: str, batch_bytes: int
) -> None:
    topic = f"{topic_prefix}.intervals"
    ensure_topics(broker.bootstrap, [TopicSpec(topic, 1)])
    sender = IntervalSender(KafkaConfig(bootstrap=broker.bootstrap), topic, batch_bytes)
    sends = _records(send=5, each=20, size=700)
    asyncio.run(_send_all(sender, sends))
    sent = [record for records in sends for record in records]
    assert _read_all(broker.bootstrap, topic, len(sent)) == sent
    if batch_bytes == 4096:
        # 100 records of 700 bytes and more: at most 5 to a 4 KB batch.
        assert sender.batches >= len(sent) // 5
    else:
        # The five sends were queued before the task ran: one batch holds them all.
        assert sender.batches == 1


def test_ccpulse_report_reads_every_record_sent_in_batches(
    broker: Broker, topic_prefix: str
) -> None:
    _report_reads_every_record_sent_in_batches(broker, f"{topic_prefix}.intervals")


def test_ccpulse_report_reads_every_record_sent_in_batches_on_the_embedded_broker(
    embedded_broker: Broker, topic_prefix: str
) -> None:
    """``ccpulse report``'s read ends at the fetch's highwater: on the embedded broker a
    ListOffsets "latest" answer, after batches of several records, is one past the first record
    of the last batch (201 for these 300 records), and a read ending there missed the rest."""
    _report_reads_every_record_sent_in_batches(embedded_broker, f"{topic_prefix}.intervals")


def _report_reads_every_record_sent_in_batches(broker: Broker, topic: str) -> None:
    ensure_topics(broker.bootstrap, [TopicSpec(topic, 1)])
    sender = IntervalSender(KafkaConfig(bootstrap=broker.bootstrap), topic)

    async def three_rounds() -> None:
        try:
            for round_ in range(3):  # one batch a round: the five sends are queued together
                sends = [
                    sender.send([(f"r{round_}|{s}|{i}".encode(), b"x" * 700) for i in range(20)])
                    for s in range(5)
                ]
                await asyncio.wait_for(asyncio.gather(*sends), 60)
        finally:
            await sender.stop()

    asyncio.run(three_rounds())
    assert sender.batches == 3
    found = read_intervals(topic, {"bootstrap_servers": [broker.bootstrap]})
    assert len(found) == 300
    assert found[b"r2|4|19"] == b"x" * 700


def test_a_later_send_waits_for_its_own_records_only(broker: Broker, topic_prefix: str) -> None:
    """Each future is done once its own records are in Kafka: read back, they are there."""
    topic = f"{topic_prefix}.intervals"
    ensure_topics(broker.bootstrap, [TopicSpec(topic, 1)])
    sender = IntervalSender(KafkaConfig(bootstrap=broker.bootstrap), topic)

    async def scenario() -> list[int]:
        seen = []
        try:
            for round_ in range(3):
                records = [(f"k{round_}|{i}".encode(), b"v" * 100) for i in range(10)]
                await asyncio.wait_for(sender.send(records), 60)
                seen.append(len(_read_all(broker.bootstrap, topic, 10 * (round_ + 1))))
        finally:
            await sender.stop()
        return seen

    assert asyncio.run(scenario()) == [10, 20, 30]


def test_a_batch_the_broker_refuses_fails_every_send_of_its_round(
    broker: Broker, topic_prefix: str
) -> None:
    """A batch the producer accepted and the broker refused (here: larger than the topic's
    ``max.message.bytes``) fails the futures of every send that waits for it, and the
    Deliveries failure hook (the worker stops); nothing of the round is taken as sent."""
    if isinstance(broker, EmbeddedBroker):  # CCPULSE_TEST_BROKER=embedded
        pytest.skip("Tansu 0.6.0 takes a batch over the topic's max.message.bytes (tried)")
    topic = f"{topic_prefix}.intervals"
    ensure_topics(broker.bootstrap, [TopicSpec(topic, 1, configs=(("max.message.bytes", "4096"),))])
    failures: list[BaseException] = []
    deliveries = Deliveries(failures.append)
    sender = IntervalSender(KafkaConfig(bootstrap=broker.bootstrap), topic)

    async def one_round() -> list[BaseException | None]:
        # Queued together: one record batch of 12 KB, over the topic's 4 KB.
        futures = [
            sender.send([(f"k{s}|{i}".encode(), b"x" * 1000) for i in range(4)]) for s in range(3)
        ]
        for future in futures:
            deliveries.track(future)
        try:
            await asyncio.wait_for(asyncio.wait(futures), 60)
        finally:
            await sender.stop()
        return [future.exception() for future in futures]

    errors = asyncio.run(one_round())
    assert sender.batches == 1
    assert all(error is not None for error in errors), errors
    assert len({id(error) for error in errors}) == 1  # the batch's failure, for each send
    assert failures and failures[0] is errors[0]
    assert _read_all(broker.bootstrap, topic, 1) == []


def test_a_broker_out_of_reach_fails_what_waits_and_stops_the_worker() -> None:
    """The future fails (the worker's Deliveries then calls its on_failure: the worker stops)."""
    failures: list[BaseException] = []
    deliveries = Deliveries(failures.append)
    sender = IntervalSender(KafkaConfig(bootstrap=f"127.0.0.1:{free_port()}"), "nowhere")

    async def scenario() -> BaseException | None:
        future = sender.send([(b"k", b"v")])
        deliveries.track(future)
        try:
            await asyncio.wait_for(asyncio.wait([future]), 60)
        finally:
            await sender.stop()
        return future.exception()

    error = asyncio.run(scenario())
    assert error is not None
    assert failures == [error]


def test_a_broker_that_never_answers_fails_what_waits_within_the_start_timeout() -> None:
    """A listener that accepts connections and never answers (a wrong port, a proxy, a broker
    expecting TLS): the producer's start gives up after ``start_seconds`` and the future fails,
    rather than holding the worker's commits for as long as it hangs."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        sender = IntervalSender(
            KafkaConfig(bootstrap=f"127.0.0.1:{port}"), "nowhere", start_seconds=2.0
        )

        async def scenario() -> BaseException | None:
            future = sender.send([(b"k", b"v")])
            try:
                await asyncio.wait_for(asyncio.wait([future]), 30)
            finally:
                await sender.stop()
            return future.exception()

        assert isinstance(asyncio.run(scenario()), TimeoutError)
