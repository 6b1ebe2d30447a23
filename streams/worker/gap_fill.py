"""Read a partition's missing offsets straight from Kafka, so the engine never sees a hole.

When a record arrives ahead of its partition's next expected offset (streams/worker/ordering.py),
the
records before it were not delivered to the checkpoint: Faust may still deliver them later, or
never (see streams/faust_adapter/acks.py). Waiting for the consumer to go back has no right length,
and whatever was received meanwhile would have to be held, and was acked and committed by
Faust while held. :class:`GapFiller` reads them instead: a consumer of its own, outside the
consumer group (no commits, no rebalances), assigned to that one partition and positioned at
the first missing offset, reads up to the record that arrived. The checkpoint applies them first,
in order, then the batch.

Offsets that hold no record are normal on Apache Kafka (the commit markers of a transactional
producer take offsets): the read ends when the consumer's position reaches the end of the gap,
whatever offsets the records it got had; so does a gap whose offsets retention deleted (the
consumer starts again at the log start). Such offsets are counted, not hidden. While the
partition cannot be read to the end of the gap (the broker is unreachable), the reader logs a
warning every ``warn_seconds`` and keeps trying: the batch waits (the lag grows and says so)
rather than be applied with a hole in it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiokafka
from aiokafka.structs import TopicPartition

from streams.broker.settings import aiokafka_kwargs
from streams.config import KafkaConfig
from streams.logs import log
from streams.worker.ordering import Gap

__all__ = ["FilledGap", "GapFiller"]

logger = logging.getLogger("ccpulse.worker")

FETCH_WAIT_MS = 100
"""Broker-side wait per fetch of the gap reader: short, the records are already there."""


@dataclass(slots=True)
class FilledGap:
    gap: Gap
    records: list[Any] = field(default_factory=list)
    """The gap's records in offset order (aiokafka ConsumerRecords: topic, partition, offset,
    key, value like Faust's messages)."""

    @property
    def without_record(self) -> int:
        """Offsets of the gap that hold no record: transaction markers, or deleted by
        retention."""
        return self.gap.end - self.gap.start - len(self.records)


class GapFiller:
    """Reads offset ranges of source partitions with a consumer outside the group."""

    def __init__(self, kafka: KafkaConfig, warn_seconds: float = 10.0) -> None:
        self._kafka = kafka
        self._warn_seconds = warn_seconds
        self._consumer: Any = None

    async def _reader(self) -> Any:
        if self._consumer is None:
            consumer = aiokafka.AIOKafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=FETCH_WAIT_MS,
                **aiokafka_kwargs(self._kafka),
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def fill(self, gaps: Sequence[Gap]) -> list[FilledGap]:
        """Each gap's records, read in offset order (one partition at a time)."""
        return [await self._fill_one(gap) for gap in gaps]

    async def _fill_one(self, gap: Gap) -> FilledGap:
        consumer = await self._reader()
        tp = TopicPartition(gap.topic, gap.partition)
        consumer.assign([tp])
        consumer.seek(tp, gap.start)
        filled = FilledGap(gap)
        started = time.monotonic()
        warn_at = started + self._warn_seconds
        while True:
            position = await consumer.position(tp)
            if position >= gap.end:
                return filled
            now = time.monotonic()
            if now >= warn_at:
                warn_at = now + self._warn_seconds
                log(
                    logger,
                    "gap in a partition's offsets still being read; its batch waits",
                    logging.WARNING,
                    topic=gap.topic,
                    partition=gap.partition,
                    first_offset=gap.start,
                    next_delivered=gap.end,
                    position=position,
                    seconds=round(now - started, 1),
                )
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=gap.end - position)
            for record in batch.get(tp, ()):
                if gap.start <= record.offset < gap.end:
                    filled.records.append(record)
                elif record.offset >= gap.end:
                    return filled

    async def stop(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()
