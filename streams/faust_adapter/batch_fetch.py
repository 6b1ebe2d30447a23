"""Source records reach the checkpoint as whole fetched batches, not one message at a time.

Why: Faust's drain loop (``Consumer._drain_messages`` in faust/transport/consumer.py) hands
every fetched record to its conductor through ``wait_first(callback(message), ...)``: a task
and a future per record, a queue hop into the stream, then the stream's per-event machinery
before ``take_events`` groups them again. ``make bench`` profiled the worker spending most of
its time there: 7.6k events/s against 324k for a plain aiokafka consumer on the same topics,
while ccpulse's own per-batch code ran at 87k (docs/performance.md).

:func:`drain_messages` is the drain loop of the worker's consumer
(:class:`streams.faust_adapter.consumer.BatchConsumer`). Per fetch:

* the records of the source topics go, as aiokafka ``ConsumerRecord`` lists (no Faust
  ``Message``, no event), one run per partition as the fetch holds them, to the worker's
  :class:`streams.worker.fetched.FetchedBatches`, which the checkpoint takes them from
  (streams/worker/checkpoint.py); planning, decoding and acking then work a run at a time
  (one partition's consecutive records), not a record at a time;
* every other topic (the table's changelog while it recovers, the alert topics) goes through
  Faust's own per-message path, unchanged.

What Faust keeps track of stays true: the read offset of each partition (``_read_offset``,
which streams/worker/stall_reader.py compares the checkpoint's progress with). Offsets are
committed by Faust's commit timer (``broker_commit_interval``), never from this loop: a commit
first flushes the producer, and the loop would stop fetching for as long as that takes. Faust's
gap intervals are not recorded for the source topics: the checkpoint finds and reads gaps
itself (streams/worker/ordering.py) and acks them with every record it applies
(streams/faust_adapter/acks.py), so nothing is acked twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport import consumer as faust_consumer

from streams.worker.fetched import FetchedBatches, PartitionRun

__all__ = ["drain_messages"]


async def drain_messages(consumer: Any, fetcher: Any, batches: FetchedBatches) -> None:
    """The drain loop of the worker's consumer: :func:`_drain_in_batches`, stopped as Faust's
    own loop stops."""
    try:
        await _drain_in_batches(consumer, fetcher, batches)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            consumer.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            consumer.log.info("Consumer shutting down for user cancel.")
            return
        raise
    finally:
        consumer.diag.unset_flag(faust_consumer.CONSUMER_FETCHING)


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
        batches.polls += 1
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
        fetched: list[PartitionRun] = []
        for tp, tp_records in records.items():
            if active is not None and tp not in active:
                continue
            if tp.topic not in source_topics:
                batches.others_handed_over += await _deliver_one_by_one(
                    consumer, tp, tp_records, generation
                )
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
) -> int:
    """Faust's own per-message delivery, for the topics that are not batched (and, as
    Faust's getmany, none after the consumer generation changed); how many were handed over."""
    read_offset = consumer._read_offset
    acks_enabled = consumer.app.topics.acks_enabled_for(tp.topic)
    handed = 0
    for record in records:
        if consumer.app.consumer_generation_id != generation or not consumer.flow_active:
            return handed
        offset = record.offset
        last_read = read_offset[tp]
        if last_read is not None and offset < last_read:
            continue
        if last_read and offset - last_read > 1 and acks_enabled:
            await consumer._add_gap(tp, last_read + 1, offset)
        message = consumer._to_message(tp, record)
        await consumer.wait_first(consumer.callback(message), consumer.suspend_flow.wait())
        read_offset[tp] = offset
        handed += 1
    return handed
