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

The snapshots returned are exactly :meth:`KpiEngine.snapshot`'s; only the work is shared. The
per-channel windows (processors/channels.py) are left out until a reader that shows them adds
them (:meth:`SnapshotCache.add_channels`): the alert timer reads every queue every second and
shows no channel.

Each queue is taken at its own second (:meth:`SnapshotCache.second_of`): the later of the
wall-clock second asked for and the queue's own newest event time, never more than ``ahead``
seconds past the wall clock. A queue fed by a simulation faster than real time reports at its
event time; one queue's events never move another queue's "now" (docs/kpis.md#time).
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

    __slots__ = ("_ahead", "_engine", "_entries", "_touched", "_with_channels")

    def __init__(self, engine: KpiEngine, ahead: float | None = None) -> None:
        self._engine = engine
        self._ahead = math.floor(engine.settings.max_future_seconds if ahead is None else ahead)
        self._entries: dict[str, tuple[int, QueueState, QueueSnapshot]] = {}
        """queue -> (second, the state it was computed from, snapshot)."""
        self._touched: set[str] = set()
        self._with_channels: set[str] = set()
        """Queues whose kept snapshot has its per-channel windows (:meth:`without_channels`)."""

    def touch(self, queues: Iterable[str]) -> None:
        """``queues`` changed: their next snapshot is recomputed even within the same second."""
        self._touched.update(queues)

    def clear(self) -> None:
        """Forget every snapshot (states were rebuilt, dropped or replaced)."""
        self._entries.clear()
        self._touched.clear()
        self._with_channels.clear()

    def second_of(self, state: QueueState, at: float) -> int:
        """The second a queue is taken at when the wall clock is ``at`` (module docstring)."""
        second = math.floor(at)
        mark = state.watermark
        if mark is None or mark < second + 1:
            return second
        return min(math.floor(mark), second + self._ahead)

    def stale(self, at: float) -> list[str]:
        """The queues whose snapshot at ``at`` (the wall clock) must be computed."""
        second = math.floor(at)
        return [name for name in self._engine.queues if self.is_stale(name, second)]

    def is_stale(self, name: str, at: float) -> bool:
        """Whether the snapshot of ``name`` at ``at`` must be computed: touched since, none
        kept, kept for a replaced state or another second (False for a queue not held). A
        reader that computes the stale queues a few at a time asks again before each: another
        reader may have computed it meanwhile."""
        state = self._engine.queues.get(name)
        if state is None:
            return False
        entry = self._entries.get(name)
        return (
            name in self._touched
            or entry is None
            or entry[1] is not state
            or entry[0] != self.second_of(state, math.floor(at))
        )

    def refresh(self, at: float, names: Iterable[str]) -> None:
        """Compute the snapshots of ``names`` at ``at`` (a part of :meth:`stale`, so that a
        caller can spread the work: the worker yields to its event loop between parts)."""
        states = self._engine.queues
        by_second: dict[int, list[str]] = {}
        for name in names:
            state = states.get(name)
            if state is not None:
                by_second.setdefault(self.second_of(state, at), []).append(name)
        for second, group in by_second.items():
            for name, snap in self._engine.snapshot(second, group, channels=False).items():
                self._entries[name] = (second, states[name], snap)
                self._touched.discard(name)
                self._with_channels.discard(name)

    def without_channels(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` whose kept snapshot lacks its per-channel windows: snapshots are
        computed without them (the alert timer reads every queue every second and shows no
        channel), and only the readers that show them (/metrics, /api/kpis) add them, with
        :meth:`add_channels`."""
        entries, states = self._entries, self._engine.queues
        return [
            name
            for name in names
            if name not in self._with_channels
            and name in entries
            and (state := states.get(name)) is not None
            and state.channel_panes
        ]

    def add_channels(self, names: Iterable[str]) -> None:
        """Add its per-channel windows (at its own second) to the kept snapshot of each of
        ``names`` (a part of :meth:`without_channels`, so that a caller can spread the work)."""
        for name in names:
            entry = self._entries.get(name)
            if entry is None or name in self._with_channels:
                continue
            second, _, snap = entry
            snap.channels = self._engine.channel_windows(name, second)
            self._with_channels.add(name)

    def one(self, at: float, name: str) -> QueueSnapshot | None:
        """The snapshot of ``name`` alone at the wall clock ``at`` (a queue view's request),
        computed only if :meth:`stale` would name it; None for a queue not held."""
        if name not in self._engine.queues:
            return None
        if self.is_stale(name, at):
            self.refresh(math.floor(at), [name])
        return self._entries[name][2]

    def kept(self, at: float) -> dict[str, QueueSnapshot]:
        """The snapshots kept now of all the engine's queues, by name, computing (at ``at``)
        only those of queues that have none. For a reader that computed the stale ones itself,
        a few at a time (:meth:`stale`, :meth:`refresh`): a queue a batch touched meanwhile, or
        that another reader computed for a later second, keeps the snapshot it has, which is
        no older than the reader's start. :meth:`snapshots` would compute those again."""
        states = self._engine.queues
        entries = self._entries
        missing = [
            name
            for name, state in states.items()
            if (entry := entries.get(name)) is None or entry[1] is not state
        ]
        if missing:
            self.refresh(at, missing)
        if len(entries) != len(states):
            for name in [name for name in entries if name not in states]:
                del entries[name]
        return {name: entries[name][2] for name in sorted(states)}

    def snapshots(self, at: float) -> dict[str, QueueSnapshot]:
        """Snapshots of all the engine's queues, each at its own second for the wall clock
        ``at`` (:meth:`second_of`), by name."""
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
