"""streams/faust_adapter/batch_fetch.py: the buffer between Faust's drain loop and the batch task."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streams.faust_adapter.batch_fetch import FetchedBatches


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


class _Flag:
    def __init__(self) -> None:
        self.value = False

    def is_set(self) -> bool:
        return self.value

    def set(self) -> None:
        self.value = True


class _Diag:
    def set_flag(self, flag: str) -> None: ...

    def unset_flag(self, flag: str) -> None: ...


class _App:
    def __init__(self) -> None:
        self.consumer_generation_id = 1
        self.rebalancing = False
        self.topics = self

    def acks_enabled_for(self, topic: str) -> bool:
        return True


class _FakeConsumer:
    """The parts of Faust's consumer the drain loop uses; ``fetches`` are what successive
    ``_wait_next_records`` calls return, each after running its ``during`` callback (what
    happens while the fetch waits)."""

    def __init__(self, fetches: list[tuple[dict[Any, list[Any]], Any]]) -> None:
        from collections import defaultdict

        self.app = _App()
        self._read_offset: defaultdict[Any, int | None] = defaultdict(lambda: None)
        self._stopped = _Flag()
        self.fetcher = type("Fetcher", (), {"_stopped": _Flag()})()
        self.diag = _Diag()
        self.should_stop = False
        self.flow_active = True
        self.delivered: list[Any] = []
        self._fetches = fetches

    async def _wait_next_records(self, timeout: float) -> tuple[dict[Any, list[Any]], None]:
        records, during = self._fetches.pop(0)
        during(self)
        if not self._fetches:
            self.fetcher._stopped.set()
        return records, None

    async def sleep(self, seconds: float) -> None: ...

    def _to_message(self, tp: Any, record: Any) -> Any:
        return record

    async def callback(self, message: Any) -> None:
        self.delivered.append(message)

    async def wait_first(self, *coros: Any) -> None:
        await coros[0]
        for other in coros[1:]:
            other.close()

    @property
    def suspend_flow(self) -> Any:
        return asyncio.Event()

    async def _add_gap(self, tp: Any, start: int, end: int) -> None: ...


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
    consumer = _FakeConsumer(fetches)
    batches = FetchedBatches(["t.telephony", "t.ticketing"], max_buffered=100)
    asyncio.run(_drain_in_batches(consumer, consumer.fetcher, batches))
    first, second = batches.pop(100), batches.pop(100)
    assert first is not None and second is None  # one generation: taken as one batch
    generation, runs = first
    assert generation == 2
    assert [[r.offset for r in run] for run in runs] == [[0, 1, 2], [2, 3]]
    assert [m.offset for m in consumer.delivered] == [0, 1, 2, 3, 4]  # the changelog's
    assert consumer._read_offset[telephony] == 3
    assert consumer._read_offset[changelog] == 4
