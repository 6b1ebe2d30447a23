"""Whole topics read once, from their first retained record to where they end when the read
starts: what ``ccpulse audit`` and ``ccpulse report`` read.

The reader is a plain kafka-python consumer: no consumer group (nothing committed, no
rebalance, the workers' group untouched), every partition assigned. Records produced meanwhile
are left out, so the read ends.

Each partition's end is the highwater mark of its first fetch response, never a ListOffsets
"latest" answer: the embedded broker answers that one wrongly when a producer batch holds more
than one record (one past the first record of the partition's last batch;
streams/broker/embedded.py), and the interval records are sent in batches of many
(streams/worker/interval_sender.py). The fetch highwater is also what the workers' lag is
measured against (streams/faust_adapter/lag.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["TopicReadError", "records_to_end"]


class TopicReadError(Exception):
    """The topics could not be read (no broker, a missing topic, a read that stopped)."""


def records_to_end(
    topics: Sequence[str],
    client: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    progress_every: float = 2.0,
    stall_seconds: float = 60.0,
) -> Iterator[tuple[Any, Any]]:
    """(partition, record) for every retained record of ``topics`` up to their ends at the
    start of the read, each partition's records in their order.

    ``client``: kafka-python connection arguments (streams/broker/settings.py). ``progress`` is
    called with a line every ``progress_every`` seconds of a long read; a read that gets no
    record for ``stall_seconds`` while partitions remain raises :class:`TopicReadError`.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", **client
        )
    except KafkaError as exc:
        servers = ",".join(client.get("bootstrap_servers", []))
        raise TopicReadError(f"cannot connect to Kafka at {servers}: {exc}") from exc
    try:
        partitions = []
        for topic in topics:
            found = consumer.partitions_for_topic(topic)
            if not found:
                raise TopicReadError(f"topic {topic} does not exist (or has no partitions)")
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        start = consumer.beginning_offsets(partitions)
        yield from _read(consumer, start, progress, progress_every, stall_seconds)
    except KafkaError as exc:
        raise TopicReadError(f"reading {', '.join(topics)} failed: {exc}") from exc
    finally:
        consumer.close()


def _read(
    consumer: Any,
    start: dict[Any, int],
    progress: Callable[[str], None] | None,
    progress_every: float,
    stall_seconds: float,
) -> Iterator[tuple[Any, Any]]:
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    end: dict[Any, int] = {}
    remaining = set(start)
    read = 0
    began = last_report = last_progress = time.monotonic()
    while remaining:
        batches = consumer.poll(timeout_ms=1000, max_records=10_000)
        for tp in remaining - set(end):
            highwater = consumer.highwater(tp)
            if highwater is not None:
                end[tp] = highwater
        for tp, records in batches.items():
            for record in records:
                if tp in end and record.offset >= end[tp]:
                    break
                read += 1
                yield tp, record
        # A compacted or transactional partition can end on an offset no record has: its
        # position, not the last record, says when it is done.
        for tp in list(remaining):
            if tp in end and consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
                consumer.pause(tp)
        now = time.monotonic()
        if batches:
            last_progress = now
        elif now - last_progress > stall_seconds:
            waiting = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(remaining))
            raise TopicReadError(f"no record for {stall_seconds:g} s; still to read: {waiting}")
        if progress and now - last_report >= progress_every:
            last_report = now
            total = sum(end[tp] - start[tp] for tp in end)
            known = "" if len(end) == len(start) else "at least "
            progress(
                f"read {read:,} of {known}{total:,} records "
                f"({len(start) - len(remaining)} of {len(start)} partitions done) "
                f"in {now - began:.0f} s"
            )
