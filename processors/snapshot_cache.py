"""Snapshots shared by every reader of one worker: computed once per queue and engine second.

In a worker, the /metrics scrape, /api/kpis, the wallboard's live stream and the 1 s alert
timer all read the snapshots of every owned queue. Recomputing all of them for each reader
(and again after every batch) was the main thread's largest cost under steady traffic
(docs/performance.md). A queue's snapshot depends only on its state and the whole second it is
taken at, so this cache keeps one per queue and recomputes it only when

* the second changed (windows slide, live gauges age), or
* the queue's state changed since: the caller reports the queues a batch touched with
  :meth:`SnapshotCache.touch`, and anything else that changes or replaces states
  (recovery, revocation) with :meth:`SnapshotCache.clear`; a state object replaced without
  either is noticed too, by identity.

The snapshots returned are exactly :meth:`KpiEngine.snapshot`'s; only the work is shared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from processors.engine import KpiEngine
from processors.snapshot import QueueSnapshot
from processors.state import QueueState

__all__ = ["SnapshotCache"]


class SnapshotCache:
    """Per-queue snapshots of one engine, reused within an engine second until touched."""

    __slots__ = ("_engine", "_entries", "_touched")

    def __init__(self, engine: KpiEngine) -> None:
        self._engine = engine
        self._entries: dict[str, tuple[int, QueueState, QueueSnapshot]] = {}
        """queue -> (second, the state it was computed from, snapshot)."""
        self._touched: set[str] = set()

    def touch(self, queues: Iterable[str]) -> None:
        """``queues`` changed: their next snapshot is recomputed even within the same second."""
        self._touched.update(queues)

    def clear(self) -> None:
        """Forget every snapshot (states were rebuilt, dropped or replaced)."""
        self._entries.clear()
        self._touched.clear()

    def stale(self, at: float) -> list[str]:
        """The queues whose snapshot at ``at`` (truncated to the second) must be computed."""
        second = math.floor(at)
        entries = self._entries
        touched = self._touched
        return [
            name
            for name, state in self._engine.queues.items()
            if name in touched
            or (entry := entries.get(name)) is None
            or entry[0] != second
            or entry[1] is not state
        ]

    def refresh(self, at: float, names: Iterable[str]) -> None:
        """Compute the snapshots of ``names`` at ``at`` (a part of :meth:`stale`, so that a
        caller can spread the work: the worker yields to its event loop between parts)."""
        second = math.floor(at)
        states = self._engine.queues
        fresh = self._engine.snapshot(second, names)
        for name, snap in fresh.items():
            self._entries[name] = (second, states[name], snap)
            self._touched.discard(name)

    def snapshots(self, at: float) -> dict[str, QueueSnapshot]:
        """Snapshots of all the engine's queues at ``at`` (truncated to the second), by name."""
        second = math.floor(at)
        stale = self.stale(second)
        if stale:
            self.refresh(second, stale)
        states = self._engine.queues
        entries = self._entries
        if len(entries) != len(states):
            for name in [name for name in entries if name not in states]:
                del entries[name]
        if self._touched:
            self._touched.intersection_update(states)  # touched, then dropped
        return {name: entries[name][2] for name in sorted(states)}
