"""The buffer between the consumer's drain loop and the checkpoint (streams/worker/fetched.py),
and the drain loop (streams/faust_adapter/batch_fetch.py) on a real Faust consumer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streams.worker.fetched import FetchedBatches
from tests.faust_objects import worker_consumer


def test_fetches_of_one_generation_are_popped_together_in_order_up_to_the_limit() -> None:
    batches = FetchedBatches(["t"], max_buffered=100)
    assert batches.pop(10) is None
    batches.put([[1, 2, 3]], generation=5)
    batches.put([[4, 5]], generation=5)
    batches.put([[6, 7], [8, 9]], generation=5)  # two partitions' runs in one fetch
    assert batches.pop(4) == (5, [[1, 2, 3], [4]])
    assert len(batches) == 5
    assert batches.pop(10) == (5, [[5], [6, 7], [8, 9]])
    assert len(batches) == 0 and batches.pop(10) is None


def test_a_new_generation_starts_a_new_batch() -> None:
    batches = FetchedBatches(["t"], max_buffered=100)
    batches.put([[1, 2]], generation=5)
    batches.put([[1, 2, 3]], generation=6)
    assert batches.pop(10) == (5, [[1, 2]])
    assert batches.pop(10) == (6, [[1, 2, 3]])


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_a_fetch_larger_than_the_limit_is_split(limit: int) -> None:
    batches = FetchedBatches(["t"], max_buffered=100)
    batches.put([[1, 2, 3], [4], [5, 6]], generation=1)
    out: list[list[int]] = []
    while (popped := batches.pop(limit)) is not None:
        assert sum(map(len, popped[1])) <= limit and all(popped[1])
        out += popped[1]
    assert [record for run in out for record in run] == [1, 2, 3, 4, 5, 6]
    # Split runs stay runs of the partition they came from.
    assert all(set(run) <= {1, 2, 3} or set(run) <= {4} or set(run) <= {5, 6} for run in out)


def test_wait_returns_at_the_first_fetch_when_there_is_no_hold() -> None:
    async def scenario() -> None:
        batches = FetchedBatches(["t"], max_buffered=100)
        waiter = asyncio.create_task(batches.wait(10, within_seconds=0.0))
        await asyncio.sleep(0.01)
        assert not waiter.done()  # nothing fetched yet
        batches.put([[7]], generation=1)
        await asyncio.wait_for(waiter, 1.0)

    asyncio.run(scenario())


def test_wait_holds_a_small_batch_for_more_but_not_a_full_one() -> None:
    async def scenario() -> tuple[float, float]:
        batches = FetchedBatches(["t"], max_buffered=100)
        batches.put([[1]], generation=1)
        started = time.monotonic()
        await batches.wait(3, within_seconds=0.2)
        held = time.monotonic() - started
        batches.put([[2, 3]], generation=1)
        started = time.monotonic()
        await batches.wait(3, within_seconds=5.0)  # full: no hold
        return held, time.monotonic() - started

    held, full = asyncio.run(scenario())
    assert held >= 0.2
    assert full < 5.0


def test_the_drain_loop_waits_while_too_much_is_buffered_and_clear_drops_it_all() -> None:
    async def scenario() -> None:
        batches = FetchedBatches(["t"], max_buffered=3)
        batches.put([[1, 2]], generation=1)
        await asyncio.wait_for(batches.wait_for_room(), 1.0)  # 2 <= 3: room
        batches.put([[3, 4]], generation=1)
        waiter = asyncio.create_task(batches.wait_for_room())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        assert batches.pop(1) == (1, [[1]])  # 3 left: room again
        await asyncio.wait_for(waiter, 1.0)
        batches.put([[5, 6]], generation=1)
        assert batches.clear() == 5 and len(batches) == 0
        await asyncio.wait_for(batches.wait_for_room(), 1.0)

    asyncio.run(scenario())


def _scripted(consumer: Any, fetches: list[tuple[dict[Any, list[Any]], Any]]) -> Any:
    """A real Faust fetcher for ``consumer`` (a real consumer of the worker's app, never
    started), with the broker replaced: ``fetches`` are what successive waits for records
    return, each after running its ``during`` callback (what happens while the fetch waits);
    the fetcher stops after the last. What Faust's per-message path delivers is recorded in
    ``consumer.delivered``."""
    from faust.transport.consumer import Fetcher

    fetcher = Fetcher(consumer.app)
    consumer.delivered = []

    async def wait_next_records(timeout: float) -> tuple[dict[Any, list[Any]], None]:
        records, during = fetches.pop(0)
        during(consumer)
        if not fetches:
            fetcher._stopped.set()
        return records, None

    async def callback(message: Any) -> None:
        consumer.delivered.append(message)

    consumer._wait_next_records = wait_next_records
    consumer.callback = callback
    return fetcher


def _records(topic: str, partition: int, offsets: range) -> list[Any]:
    from aiokafka.structs import ConsumerRecord

    return [ConsumerRecord(topic, partition, o, 0, 0, b"k", b"v", None, 1, 1, ()) for o in offsets]


def test_the_drain_loop_batches_source_records_and_delivers_the_rest_one_by_one() -> None:
    from faust.types.tuples import TP

    from streams.faust_adapter.batch_fetch import _drain_in_batches

    telephony, changelog = TP("t.telephony", 0), TP("app-queue-state-changelog", 0)

    def rebalanced(consumer: Any) -> None:
        # A rebalance completes while the fetch waits: the records belong to generation 2.
        consumer.app.consumer_generation_id = 2

    fetches = [
        (
            {
                telephony: _records(*telephony, range(0, 3)),
                changelog: _records(*changelog, range(5)),
            },
            rebalanced,
        ),
        # Fetched again from offset 1 (a seek): 2 (the last read) and 3 are handed over, as
        # Faust's own loop does; the batch task drops what it already applied.
        ({telephony: _records(*telephony, range(1, 4))}, lambda consumer: None),
    ]
    consumer = worker_consumer()
    app = consumer.app
    generation, app.consumer_generation_id = app.consumer_generation_id, 1
    try:
        fetcher = _scripted(consumer, fetches)
        batches = FetchedBatches(["t.telephony", "t.ticketing"], max_buffered=100)
        # On the consumer's own loop: Faust's per-message path schedules its futures there.
        consumer.loop.run_until_complete(_drain_in_batches(consumer, fetcher, batches))
    finally:
        app.consumer_generation_id = generation
    first, second = batches.pop(100), batches.pop(100)
    assert first is not None and second is None  # one generation: taken as one batch
    generation, runs = first
    assert generation == 2
    assert [[r.offset for r in run] for run in runs] == [[0, 1, 2], [2, 3]]
    assert [m.offset for m in consumer.delivered] == [0, 1, 2, 3, 4]  # the changelog's
    assert all(m.tp == changelog for m in consumer.delivered)
    assert consumer._read_offset[telephony] == 3
    assert consumer._read_offset[changelog] == 4
