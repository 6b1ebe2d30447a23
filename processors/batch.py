"""What a batch of events carries into the engine and what the engine gives back.

An event comes with where it was read from (a :class:`Position`, or an :data:`Item` once split by
queue), so that a batch applied twice (a replay after a crash) is skipped by offset; the engine
answers with a :class:`BatchResult`: the queues to persist, the events to forward, the events
refused with their reason, and the counts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from processors.events import Event, TicketMovedIn

__all__ = ["BatchResult", "Item", "Position", "source_key"]


@functools.lru_cache(maxsize=4096)
def source_key(topic: str, partition: int) -> str:
    """The key under which a queue's state remembers the last offset applied from a
    partition (``QueueState.offsets``)."""
    return f"{topic}:{partition}"


Item = tuple[Event, str | None, int]
"""An event ready for :meth:`KpiEngine.apply_grouped`: (event, :func:`source_key` of the
partition it came from or None, its offset there (ignored without a key))."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where an event came from: used to skip what a previous run already applied."""

    topic: str
    partition: int
    offset: int

    @property
    def key(self) -> str:
        return source_key(self.topic, self.partition)


@dataclass(slots=True)
class BatchResult:
    touched: set[str] = field(default_factory=set)
    """Queues whose state changed (persist these once)."""
    forwarded: list[TicketMovedIn] = field(default_factory=list)
    """Events for other queues (a ticket moved away): produce them keyed by their queue."""
    refused: list[tuple[Item, str, str]] = field(default_factory=list)
    """Events the engine would not count, with a reason code and a sentence: an id already
    applied with another event time (``id_conflict``), or an event its handler raised on
    (``apply_error``). The worker sends them to the dead-letter topic; the queue's other events
    are applied."""
    applied: int = 0
    late: int = 0
    duplicates: int = 0
