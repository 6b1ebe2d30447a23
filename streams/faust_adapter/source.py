"""The worker's consumer on Faust: :class:`streams.worker.source.SourceConsumer` implemented.

The checkpoint sees fetches, highwaters, committed offsets and "these offsets may be
committed"; this class turns them into Faust's consumer, its read and committed offsets and its
acked lists (streams/faust_adapter/acks.py, lag.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

import faust

from streams.faust_adapter.acks import ack_offsets, ack_records, dedupe_acked
from streams.faust_adapter.consumer import install_worker_transport
from streams.faust_adapter.lag import committed_offset, handed_over, partition_highwaters
from streams.worker.fetched import FetchedBatches
from streams.worker.ordering import Gap
from streams.worker.source import PartitionKey

__all__ = ["FaustSource"]


class FaustSource:
    """The source topics of one Faust app, consumed in whole fetches (see the module)."""

    def __init__(
        self,
        app: faust.App,
        topics: Collection[str],
        max_buffered: int,
        fetch_max_wait_ms: int,
    ) -> None:
        self.app = app
        self.topics = frozenset(topics)
        self.fetched = FetchedBatches(tuple(topics), max_buffered=max_buffered)
        # Before anything builds the app's consumer (its topics, agents and tables do).
        install_worker_transport(app, self.fetched, fetch_max_wait_ms)

    @property
    def generation(self) -> int | None:
        return self.app.consumer_generation_id  # type: ignore[no-any-return]

    @property
    def rebalancing(self) -> bool:
        return bool(self.app.rebalancing)

    def assigned_partitions(self) -> set[int]:
        assigned = self.app.assignor.assigned_actives()
        return {tp.partition for tp in assigned if tp.topic in self.topics}

    def recovery_pending(self) -> bool:
        # Set by Faust's Recovery.on_rebalance, cleared when its recovery loop starts the next
        # recovery: a public attribute (streams/faust_adapter/recovery_watch.py sets it too).
        return bool(self.app.tables.recovery.signal_recovery_start.is_set())

    def highwaters(self) -> dict[PartitionKey, int]:
        return partition_highwaters(self.app.consumer, self.topics)

    def committed(self, key: PartitionKey) -> int | None:
        return committed_offset(self.app.consumer, key)

    def handed_over(self, key: PartitionKey, highwater: int) -> int:
        return handed_over(self.app.consumer, key, highwater)

    def mark_committable(self, runs: Iterable[Sequence[Any]], gaps: Iterable[Gap]) -> None:
        consumer = self.app.consumer
        for gap in gaps:
            ack_offsets(consumer, gap.topic, gap.partition, gap.start, gap.end)
        ack_records(consumer, runs, consecutive=True)

    def mark_caught_up(self, key: PartitionKey, start: int, end: int) -> tuple[int, int]:
        consumer = self.app.consumer
        duplicates = dedupe_acked(consumer, *key)
        return ack_offsets(consumer, key[0], key[1], start, end), duplicates

    async def commit(self) -> None:
        await self.app.consumer.commit()
