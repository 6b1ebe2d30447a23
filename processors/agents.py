"""Agent states: who is in which state now, and occupancy over a window.

Each agent has a timeline of (event time, state) changes (processors.state.Timeline), kept
sorted so a late change lands in the right place. *Occupancy* over a span is time on calls and
in wrap-up divided by that plus available time, with every state interval clipped to the span;
not-ready and logged-out time count in neither. The seconds ``first..last`` of a window are the
real-time span ``[first, last + 1)``, so a change at 10:00:00.7 belongs to second 10:00:00 as
everywhere else.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Mapping

from processors.state import QueueState, Timeline

__all__ = [
    "OccupancyCache",
    "agents_by_state",
    "apply_agent_state",
    "evict_agents",
    "occupancy",
]

BUSY = frozenset({"on_call", "wrap_up"})


def apply_agent_state(state: QueueState, agent: str, t: float, new_state: str) -> bool:
    timeline = state.agents.get(agent)
    if timeline is None:
        timeline = state.agents[agent] = Timeline()
    times, states = timeline.times, timeline.states
    count = len(states)
    index = bisect.bisect_left(times, t)
    # Among changes at the same instant, keep them ordered by state name (and each once).
    while index < count and times[index] == t and states[index] < new_state:
        index += 1
    if index < count and times[index] == t and states[index] == new_state:
        return False
    times.insert(index, t)
    states.insert(index, sys.intern(new_state))
    return True


def _state_at(timeline: Timeline, at: int) -> str | None:
    # The last change in or before second `at`. Two changes at the exact same instant are
    # ordered by state name: arbitrary, but the same whatever order the events arrived in.
    index = bisect.bisect_left(timeline.times, float(at + 1))
    return timeline.states[index - 1] if index else None


def agents_by_state(state: QueueState, at: int) -> tuple[dict[str, int], int]:
    """({state: agents}, staffed) at second ``at``; logged-out agents are not listed."""
    counts: dict[str, int] = {}
    for timeline in state.agents.values():
        current = _state_at(timeline, at)
        if current is None or current == "logged_out":
            continue
        counts[current] = counts.get(current, 0) + 1
    return counts, sum(counts.values())


def _busy_available(state: QueueState, start: float, end: float) -> tuple[float, float]:
    """Seconds on calls or in wrap-up, and seconds available, within ``[start, end)``."""
    busy = available = 0.0
    bisect_left = bisect.bisect_left
    for timeline in state.agents.values():
        # Only the last change before the span and the changes inside it can overlap it: walk
        # just those instead of the whole day's timeline (min/max spelled as comparisons: this
        # runs for every change of every agent at every snapshot).
        times, states = timeline.times, timeline.states
        count = len(states)
        begin = bisect_left(times, start) - 1
        if begin < 0:
            begin = 0
        stop = bisect_left(times, end, begin)
        for index in range(begin, stop):
            current = states[index]
            if current == "available":
                is_busy = False
            elif current in BUSY:
                is_busy = True
            else:
                continue
            t = times[index]
            until = times[index + 1] if index + 1 < count else end
            overlap = (until if until < end else end) - (t if t > start else start)
            if overlap <= 0:
                continue
            if is_busy:
                busy += overlap
            else:
                available += overlap
    return busy, available


def _ratio(busy: float, available: float) -> float | None:
    total = busy + available
    return busy / total if total > 0 else None


def occupancy(state: QueueState, first: int, last: int) -> float | None:
    """Busy / (busy + available) over the seconds ``first..last`` inclusive."""
    return _ratio(*_busy_available(state, float(first), float(last + 1)))


class OccupancyCache:
    """Occupancy over spans with a fixed start (``today``: since local midnight), incrementally.

    Recomputing ``today`` from midnight walks every agent change of the day, at every snapshot;
    by the afternoon that was most of a snapshot's cost. The span is split at the start of the
    current quarter hour: the closed part ``[start, quarter)`` is computed once per quarter and
    kept until an agent change before the quarter arrives (a late event) or the queue's state
    object is replaced (a rebuild); only the open part is walked each time. Same definition,
    same intervals; only the order of the floating-point additions differs (two partial sums).
    """

    QUARTER = 900

    def __init__(self) -> None:
        self._closed: dict[str, tuple[QueueState, float, float, float, float]] = {}
        self._changed_from: dict[str, float] = {}

    def changed(self, queue: str, t: float) -> None:
        """An agent change at event time ``t`` was applied to ``queue``."""
        before = self._changed_from.get(queue)
        if before is None or t < before:
            self._changed_from[queue] = t

    def occupancy(self, state: QueueState, first: int, last: int) -> float | None:
        quarter = last - last % self.QUARTER
        start, boundary, end = float(first), float(quarter), float(last + 1)
        if boundary <= start:
            return occupancy(state, first, last)
        queue = state.queue
        cached = self._closed.get(queue)
        changed = self._changed_from.get(queue)
        if (
            cached is None
            or cached[0] is not state
            or cached[1] != start
            or cached[2] != boundary
            or (changed is not None and changed < boundary)
        ):
            busy, available = _busy_available(state, start, boundary)
            self._closed[queue] = (state, start, boundary, busy, available)
            self._changed_from.pop(queue, None)
        else:
            busy, available = cached[3], cached[4]
        open_busy, open_available = _busy_available(state, boundary, end)
        return _ratio(busy + open_busy, available + open_available)

    def retain(self, states: Mapping[str, QueueState]) -> None:
        """Drop what is cached for queues no longer in ``states`` (revoked, or rebuilt as a
        new state object), so the cache never keeps a dropped queue's state alive."""
        for queue in [q for q, cached in self._closed.items() if states.get(q) is not cached[0]]:
            del self._closed[queue]
            self._changed_from.pop(queue, None)


def evict_agents(state: QueueState, keep_from: float) -> None:
    """Drop changes before ``keep_from``, keeping the last one before it (the state then)."""
    for timeline in state.agents.values():
        index = bisect.bisect_left(timeline.times, keep_from)
        if index > 1:
            del timeline.times[: index - 1]
            del timeline.states[: index - 1]
