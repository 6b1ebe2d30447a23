"""Source records reach the KPI agent as whole fetched batches, not one message at a time.

Why: Faust's drain loop (``Consumer._drain_messages`` in faust/transport/consumer.py) hands
every fetched record to its conductor through ``wait_first(callback(message), ...)``: a task
and a future per record, a queue hop into the stream, then the stream's per-event machinery
before ``take_events`` groups them again. ``make bench`` profiled the worker spending most of
its time there: 7.6k events/s against 324k for a plain aiokafka consumer on the same topics,
while ccpulse's own per-batch code ran at 87k (docs/performance.md).

:func:`install_batch_fetch` replaces the drain loop of one app's consumer. Per fetch:

* the records of the source topics go, as aiokafka ``ConsumerRecord`` lists (no Faust
  ``Message``, no event), one *run* per partition as the fetch holds them, to that app's
  :class:`FetchedBatches`, which the agent task takes them from (streams/app.py); planning,
  decoding and acking then work a run at a time (one partition's consecutive records), not
  a record at a time;
* every other topic (the table's changelog while it recovers, the alert topics) goes through
  Faust's own per-message path, unchanged.

What Faust keeps track of stays true: the read offset of each partition (``_read_offset``,
which streams/worker/stalls.py compares the agent's progress with). Offsets are committed by Faust's
commit timer (``broker_commit_interval``), never from this loop: a commit first flushes the
producer, and the loop would stop fetching for as long as that takes. Faust's gap intervals
are not recorded for the source topics: the agent finds and reads gaps itself
(streams/worker/ordering.py) and acks them with every record it applies
(streams/faust_adapter/acks.py), so
nothing is acked twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import Collection
from typing import Any

from faust.transport import consumer as faust_consumer

__all__ = ["FetchedBatches", "Run", "install_batch_fetch"]


Run = list[Any]
"""Records of one partition in offset order, as fetched (aiokafka ``ConsumerRecord``)."""


class FetchedBatches:
    """Source records fetched and not yet taken by the agent, oldest first, in runs.

    Filled by the drain loop, emptied by the batch task (:meth:`wait`, then :meth:`pop`
    under the agent's lock) and by the shutdown hook; :meth:`clear` on
    revocation drops what a former assignment fetched, as Faust clears its stream queues.
    Records of one fetch carry the consumer generation they were fetched in, so the agent can
    drop a batch that a rebalance overtook.
    """

    def __init__(self, topics: Collection[str], max_buffered: int) -> None:
        self.topics = frozenset(topics)
        self.max_buffered = max_buffered
        """Above this many records the drain loop waits for the agent (back-pressure)."""
        self._fetches: deque[tuple[int | None, list[Run]]] = deque()
        self._count = 0
        self._filled = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()

    def __len__(self) -> int:
        return self._count

    def put(self, runs: list[Run], generation: int | None) -> None:
        """Buffer one fetch: a run of records per partition."""
        self._fetches.append((generation, runs))
        self._count += sum(map(len, runs))
        self._filled.set()
        if self._count > self.max_buffered:
            self._drained.clear()

    async def wait_for_room(self) -> None:
        await self._drained.wait()

    async def wait(self, max_records: int, within_seconds: float) -> None:
        """Wait for a fetch, then for up to ``within_seconds`` more while fewer than
        ``max_records`` records are buffered (larger batches: fewer changelog writes)."""
        while not self._fetches:
            self._filled.clear()
            await self._filled.wait()
        deadline = asyncio.get_running_loop().time() + within_seconds
        while self._count < max_records:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            self._filled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._filled.wait(), left)

    def pop(self, max_records: int) -> tuple[int | None, list[Run]] | None:
        """The oldest fetched runs of one generation, at most ``max_records`` records in all
        (a run is split if need be; None: nothing is buffered). Not async: whoever holds the
        agent's lock pops and applies in one go, so a revocation or shutdown never finds records
        popped but not applied."""
        if not self._fetches:
            return None
        generation = self._fetches[0][0]
        taken: list[Run] = []
        count = 0
        while self._fetches and count < max_records:
            next_generation, runs = self._fetches[0]
            if next_generation != generation:
                break
            self._fetches.popleft()
            for index, run in enumerate(runs):
                room = max_records - count
                if len(run) > room:
                    # The rest of the fetch goes back, to be taken first next time.
                    rest = runs[index:]
                    if room:
                        taken.append(run[:room])
                        count += room
                        rest[0] = run[room:]
                    self._fetches.appendleft((generation, rest))
                    break
                taken.append(run)
                count += len(run)
        self._taken(count)
        return generation, taken

    def clear(self) -> int:
        """Drop every buffered record; how many."""
        dropped = self._count
        self._fetches.clear()
        self._taken(dropped)
        return dropped

    def _taken(self, count: int) -> None:
        self._count -= count
        if self._count <= self.max_buffered:
            self._drained.set()


_sinks: weakref.WeakKeyDictionary[Any, FetchedBatches] = weakref.WeakKeyDictionary()
_faust_drain = faust_consumer.Consumer._drain_messages


def install_batch_fetch(app: Any, batches: FetchedBatches) -> None:
    """Deliver ``batches.topics`` of ``app``'s consumer to ``batches`` (call before the app
    starts). Consumers of other apps keep Faust's drain loop."""
    _sinks[app] = batches
    if faust_consumer.Consumer._drain_messages is not _drain_messages:
        faust_consumer.Consumer._drain_messages = _drain_messages


async def _drain_messages(self: Any, fetcher: Any) -> None:
    batches = _sinks.get(self.app)
    if batches is None:
        await _faust_drain(self, fetcher)
        return
    try:
        await _drain_in_batches(self, fetcher, batches)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    finally:
        self.diag.unset_flag(faust_consumer.CONSUMER_FETCHING)


async def _drain_in_batches(consumer: Any, fetcher: Any, batches: FetchedBatches) -> None:
    """Faust's drain loop, with the source topics' records handed over per fetch."""
    app = consumer.app
    read_offset = consumer._read_offset
    source_topics = batches.topics
    consumer_stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    while not (consumer_stopped() or fetcher_stopped()):
        consumer.diag.set_flag(faust_consumer.CONSUMER_FETCHING)
        records, active = await consumer._wait_next_records(1.0)
        # The generation the records belong to is read after the fetch, as Faust's getmany
        # does: the wait above can span a whole rebalance (flow stopped), and a generation
        # read before it would make this loop drop the first records of the new assignment,
        # the changelog's among them (the likely cause of a table recovery that never
        # finished in a fault test, with a first version of this loop; not seen since).
        generation = app.consumer_generation_id
        await consumer.sleep(0)
        if not records or consumer.should_stop or not consumer.flow_active:
            # Faust's getmany yields nothing with flow stopped either: the records are fetched
            # again after the rebalance's seek (or read by streams/worker/stalls.py).
            continue
        fetched: list[Run] = []
        for tp, tp_records in records.items():
            if active is not None and tp not in active:
                continue
            if tp.topic not in source_topics:
                await _deliver_one_by_one(consumer, tp, tp_records, generation)
                continue
            last_read = read_offset[tp]
            if last_read is not None and tp_records[0].offset < last_read:
                tp_records = [r for r in tp_records if r.offset >= last_read]
                if not tp_records:
                    continue
            fetched.append(tp_records)
            read_offset[tp] = tp_records[-1].offset
        if fetched:
            batches.put(fetched, generation)
        if len(batches) > batches.max_buffered and not app.rebalancing:
            await batches.wait_for_room()


async def _deliver_one_by_one(
    consumer: Any, tp: Any, records: list[Any], generation: int | None
) -> None:
    """Faust's own per-message delivery, for the topics that are not batched (and, as
    Faust's getmany, none after the consumer generation changed)."""
    read_offset = consumer._read_offset
    acks_enabled = consumer.app.topics.acks_enabled_for(tp.topic)
    for record in records:
        if consumer.app.consumer_generation_id != generation or not consumer.flow_active:
            return
        offset = record.offset
        last_read = read_offset[tp]
        if last_read is not None and offset < last_read:
            continue
        if last_read and offset - last_read > 1 and acks_enabled:
            await consumer._add_gap(tp, last_read + 1, offset)
        message = consumer._to_message(tp, record)
        await consumer.wait_first(consumer.callback(message), consumer.suspend_flow.wait())
        read_offset[tp] = offset
