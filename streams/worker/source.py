"""What the worker needs of its Kafka consumer: the small typed interface the checkpoint uses.

The checkpoint (streams/worker/checkpoint.py), the stall reader and the recovery hooks know
Kafka only through :class:`SourceConsumer`; :class:`streams.faust_adapter.source.FaustSource`
implements it on Faust (the only place that touches Faust's internals). Swapping the stream
framework means writing another implementation of this Protocol (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from streams.worker.fetched import FetchedBatches
from streams.worker.ordering import Gap

__all__ = ["PartitionKey", "SourceConsumer"]

PartitionKey = tuple[str, int]
"""(topic, partition)."""


class SourceConsumer(Protocol):
    """The worker's consumer of the source topics, as the checkpoint sees it."""

    fetched: FetchedBatches
    """The fetches of the assigned source partitions, not yet taken."""

    @property
    def generation(self) -> int | None:
        """The consumer group generation: a fetch of an older one belongs to a former
        assignment."""

    @property
    def rebalancing(self) -> bool:
        """A rebalance is under way (until the new assignment is sought to its committed
        offsets)."""

    def assigned_partitions(self) -> set[int]:
        """Partitions of the source topics actively assigned to this worker."""

    def recovery_pending(self) -> bool:
        """A newer assignment's table recovery is asked for and not started: a recovery
        finishing now is of a former assignment."""

    def highwaters(self) -> dict[PartitionKey, int]:
        """Each assigned source partition's highwater, as of its last fetch (unknown ones left
        out)."""

    def committed(self, key: PartitionKey) -> int | None:
        """The offset last committed for ``key`` (None: none, or 0, or not known yet)."""

    def handed_over(self, key: PartitionKey, highwater: int) -> int:
        """One past the last offset of ``key`` the consumer handed over, at most
        ``highwater``."""

    def mark_committable(self, runs: Iterable[Sequence[Any]], gaps: Iterable[Gap]) -> None:
        """These offsets may be committed: the records of ``runs`` (each of consecutive
        offsets) and every offset of ``gaps``."""

    def mark_caught_up(self, key: PartitionKey, start: int, end: int) -> tuple[int, int]:
        """Offsets ``start`` to ``end - 1`` of ``key`` may be committed (a partition whose
        commit stalled); (offsets newly marked, duplicate marks dropped)."""

    async def commit(self) -> None:
        """Commit what was marked committable, now."""
