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
import math
import sys
from array import array
from collections.abc import Sequence

from processors.state import QueueState, Timeline

__all__ = [
    "WindowOccupancy",
    "agents_by_state",
    "apply_agent_state",
    "busy_available_cells",
    "evict_agents",
    "occupancy",
]

BUSY = frozenset({"on_call", "wrap_up"})

_UNKNOWN = -1.0
"""A second's cell not computed yet (busy and available seconds are never negative)."""
_UNKNOWN_MINUTE = [_UNKNOWN] * 120


def apply_agent_state(state: QueueState, agent: str, t: float, new_state: str) -> bool:
    timeline = state.agents.get(agent)
    if timeline is None:
        timeline = state.agents[agent] = Timeline()
    times, states = timeline.times, timeline.states
    count = len(states)
    if not count or t > times[-1]:
        times.append(t)  # after every change so far: the usual case, no search
        states.append(sys.intern(new_state))
        return True
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
    return _busy_available_cells(state, (start, end))[0]


def _busy_available_cells(state: QueueState, bounds: Sequence[float]) -> list[tuple[float, float]]:
    """:func:`_busy_available` for each of the consecutive spans ``[bounds[i], bounds[i + 1])``,
    in one walk of each timeline instead of one per span. Each span gets the same additions in
    the same order as its own walk would give it (agent by agent, change by change), so the
    same floats.

    Only the last change before the first span and the changes inside the spans can overlap
    them: just those are walked, not the whole day's timeline (min/max spelled as comparisons:
    this runs for every change of every agent at every snapshot)."""
    spans = len(bounds) - 1
    busy = [0.0] * spans
    available = [0.0] * spans
    if spans <= 0:
        return []
    first, last = bounds[0], bounds[-1]
    bisect_left = bisect.bisect_left
    for timeline in state.agents.values():
        times, states = timeline.times, timeline.states
        count = len(states)
        begin = bisect_left(times, first) - 1
        if begin < 0:
            begin = 0
        stop = bisect_left(times, last, begin)
        for index in range(begin, stop):
            current = states[index]
            if current == "available":
                totals = available
            elif current in BUSY:
                totals = busy
            else:
                continue
            t = times[index]
            # For the last change, each span's own walk ends it at the span's end.
            until = times[index + 1] if index + 1 < count else last
            span = bisect.bisect_right(bounds, t) - 1
            if span < 0:
                span = 0
            while span < spans:
                start, end = bounds[span], bounds[span + 1]
                if start >= until:
                    break
                overlap = (until if until < end else end) - (t if t > start else start)
                if overlap > 0:
                    totals[span] += overlap
                span += 1
    return list(zip(busy, available, strict=True))


busy_available_cells = _busy_available_cells
"""Busy and available agent seconds per consecutive span (closed intervals: processors/
intervals.py)."""


def _ratio(busy: float, available: float) -> float | None:
    total = busy + available
    return busy / total if total > 0 else None


def occupancy(state: QueueState, first: int, last: int) -> float | None:
    """Busy / (busy + available) over the seconds ``first..last`` inclusive."""
    return _ratio(*_busy_available(state, float(first), float(last + 1)))


class _LastStates:
    """The agents' last states, counted: what each second after the latest agent change holds."""

    def __init__(self, state: QueueState) -> None:
        latest = -math.inf
        counts: dict[str, int] = {}
        for timeline in state.agents.values():
            if not timeline.states:
                continue
            if timeline.times[-1] > latest:
                latest = timeline.times[-1]
            current = timeline.states[-1]
            if current != "logged_out":
                counts[current] = counts.get(current, 0) + 1
        self.latest = latest
        """The latest change of any agent (-inf: none)."""
        self.steady_from = math.ceil(latest) if latest > -math.inf else -(2**62)
        """The first second no change falls in or after."""
        self.counts = counts
        """Agents per state, logged-out ones left out (:func:`agents_by_state`)."""
        self.staffed = sum(counts.values())
        self.busy = float(sum(counts.get(busy, 0) for busy in BUSY))
        """Agents on calls or in wrap-up: the busy seconds of each such second."""
        self.available = float(counts.get("available", 0))


class WindowOccupancy:
    """Occupancy of one queue over windows that end at the same second, from cached pieces.

    Recomputing a window walks every agent change in it, for every window of every snapshot:
    ``today`` walks the whole day, and on a busy queue the rolling windows were most of a
    snapshot's cost. Each window is split like the panes (processors/panes.py): a head (from its
    start to the next whole minute), whole closed minutes and quarter hours, and the open
    minute up to now (shared by all the windows of a snapshot). Busy and available seconds of a
    closed minute or quarter, and their sums over the closed run of a window, are computed once
    and kept until an agent change before their end arrives (a late event: :meth:`changed`).
    Heads and the open minute are sums of per-second cells, kept the same way: a window's head
    shrinks by a second each second and the open minute grows by one, so a snapshot walks the
    agents for the seconds that are new, not four times over the whole head and open minute
    (those walks were most of a busy queue's snapshot: ``make bench``, "Freshness at 20,000
    events/s"). Same definition, same intervals; only the order of the floating-point additions
    differs from :func:`occupancy` (partial sums, always the same ones for a state and a second).

    Each second after the latest change of any agent is the same cell: every agent spends the
    whole second in its last state. Those cells are filled from the agents' last states, counted
    once per change (:class:`_LastStates`), with no walk; the same counts answer who is in which
    state now (:meth:`agents_by_state`). On queues whose agents keep their states for a while,
    the walks of the new second and the searches of every agent's timeline were half of a
    snapshot (1,000 queues: a full pass took 104-109 ms before, 76 ms after, in process, compiled).

    One per queue state (the engine makes a new one when a state is replaced).
    """

    def __init__(self, state: QueueState, shortcut: bool = True) -> None:
        self.state = state
        self.shortcut = shortcut
        """False: every new second is walked, even after the last change (what tests compare
        with)."""
        self._cells: dict[tuple[int, int], tuple[float, float]] = {}
        """(start, 60 or 900) -> (busy, available) seconds in that closed minute or quarter."""
        self._runs: dict[tuple[int, int], tuple[float, float]] = {}
        """(start, stop) -> (busy, available) seconds over the closed cells from start to stop."""
        self._seconds: dict[int, array[float]] = {}
        """minute start -> busy and available seconds of each of its seconds (two floats per
        second, :data:`_UNKNOWN` until computed)."""
        self._changed_from: float | None = None
        self._last: _LastStates | None = None
        """The agents' last states, or None until computed again after a change."""
        self._kept_for: tuple[int, ...] = ()
        """The minutes of the window starts and the open minute :meth:`_forget` last kept for."""

    def changed(self, t: float) -> None:
        """An agent change at event time ``t`` was applied."""
        if self._changed_from is None or t < self._changed_from:
            self._changed_from = t
        self._last = None

    def occupancies(self, firsts: Sequence[int], last: int) -> list[float | None]:
        """:func:`occupancy` over the seconds ``first..last`` for each of ``firsts``."""
        self._drop_changed()
        end = last + 1
        open_start = last - last % 60
        tail: tuple[float, float] | None = None
        out: list[float | None] = []
        for first in firsts:
            if first >= open_start:
                out.append(_ratio(*self._second_sums(first, end)))
                continue
            if tail is None:
                tail = self._second_sums(open_start, end)
            closed_from = first + (-first) % 60
            busy, available = (
                self._second_sums(first, closed_from) if first < closed_from else (0.0, 0.0)
            )
            run_busy, run_available = self._run(closed_from, open_start)
            out.append(_ratio(busy + run_busy + tail[0], available + run_available + tail[1]))
        self._forget(firsts, open_start)
        return out

    def _second_sums(self, first: int, stop: int) -> tuple[float, float]:
        """Busy and available seconds over the seconds ``first..stop - 1`` (within one minute):
        the sum of their per-second cells in ascending order, the missing ones computed first
        in one walk of the timelines."""
        minute = first - first % 60
        cells = self._seconds.get(minute)
        if cells is None:
            cells = self._seconds[minute] = array("d", _UNKNOWN_MINUTE)
        low, high = 2 * (first - minute), 2 * (stop - minute)
        missing_from = missing_to = -1
        for position in range(low, high, 2):
            if cells[position] < 0.0:
                if missing_from < 0:
                    missing_from = position
                missing_to = position
        if missing_from >= 0:
            last = self._last_states()
            if self.shortcut and minute + missing_from // 2 >= last.steady_from:
                # No agent changes state in these seconds: each is a whole second of every
                # agent's last state, the floats a walk adds up (1.0 per agent), without it.
                for position in range(missing_from, missing_to + 1, 2):
                    cells[position] = last.busy
                    cells[position + 1] = last.available
            else:
                seconds = range(minute + missing_from // 2, minute + missing_to // 2 + 2)
                walked = _busy_available_cells(self.state, [float(s) for s in seconds])
                position = missing_from
                for busy_seconds, available_seconds in walked:
                    cells[position] = busy_seconds
                    cells[position + 1] = available_seconds
                    position += 2
        busy = available = 0.0
        for position in range(low, high, 2):
            busy += cells[position]
            available += cells[position + 1]
        return busy, available

    def agents_by_state(self, at: int) -> tuple[dict[str, int], int]:
        """:func:`agents_by_state` at second ``at``: from the agents' last states when no change
        comes after that second (a snapshot of now, the usual case), without a search of every
        agent's timeline."""
        last = self._last_states()
        if last.latest < at + 1:
            counts = dict(last.counts)
            return counts, last.staffed
        return agents_by_state(self.state, at)

    def _last_states(self) -> _LastStates:
        """The agents' last states, counted once per change (:meth:`changed` drops them): a
        snapshot each second asks for one new second, and on a queue whose agents keep their
        states that was a walk of every agent's timeline."""
        last = self._last
        if last is None:
            last = self._last = _LastStates(self.state)
        return last

    def _run(self, start: int, stop: int) -> tuple[float, float]:
        """Busy and available seconds from minute ``start`` to minute ``stop`` (both closed
        minute boundaries), coarse-first: a whole quarter where one fits, else a minute."""
        run = self._runs.get((start, stop))
        if run is None:
            cells: list[tuple[int, int]] = []
            begin = start
            while begin < stop:
                size = 900 if begin % 900 == 0 and begin + 900 <= stop else 60
                cells.append((begin, size))
                begin += size
            missing = [index for index, cell in enumerate(cells) if cell not in self._cells]
            if missing:
                # In one walk of the timelines (after a late change, or when a worker catching
                # up moves every agent's state, that is most of a day's quarters).
                span = cells[missing[0] : missing[-1] + 1]
                bounds = [float(b) for b, _ in span] + [float(span[-1][0] + span[-1][1])]
                walked = _busy_available_cells(self.state, bounds)
                for cell, seconds in zip(span, walked, strict=True):
                    self._cells[cell] = seconds
            busy = available = 0.0
            for cell in cells:
                seconds = self._cells[cell]
                busy += seconds[0]
                available += seconds[1]
            run = self._runs[start, stop] = (busy, available)
        return run

    def _drop_changed(self) -> None:
        """Forget what an agent change since the last call makes stale: every cell (and run of
        cells) that ends after it."""
        changed = self._changed_from
        if changed is None:
            return
        self._changed_from = None
        for key in [k for k in self._cells if k[0] + k[1] > changed]:
            del self._cells[key]
        for key in [k for k in self._runs if k[1] > changed]:
            del self._runs[key]
        since = math.floor(changed)
        for minute, cells in self._seconds.items():
            if minute + 60 > changed:
                for position in range(2 * max(since - minute, 0), 120):
                    cells[position] = _UNKNOWN

    def _forget(self, firsts: Sequence[int], open_start: int) -> None:
        """Keep only what windows starting at ``firsts`` and ending in the minute at
        ``open_start`` can read: quarters from the oldest start on, minutes within the first
        quarter of a window or the open quarter, runs ending at the open minute, the seconds of
        the minutes a window starts in and of the open minute. All of that moves a minute at a
        time: nothing to look at while the windows start in the same minutes as last time."""
        kept_for = (open_start, *[first - first % 60 for first in firsts])
        if kept_for == self._kept_for:
            return
        self._kept_for = kept_for
        if len(self._seconds) > len(firsts) + 1:
            minutes = set(kept_for)
            for minute in [m for m in self._seconds if m not in minutes]:
                del self._seconds[minute]
        oldest = min(firsts, default=open_start) - 900
        quarters = {first - first % 900 for first in firsts}
        quarters.add(open_start - open_start % 900)
        stale = [
            key
            for key in self._cells
            if key[0] < oldest or (key[1] == 60 and key[0] - key[0] % 900 not in quarters)
        ]
        for key in stale:
            del self._cells[key]
        for key in [k for k in self._runs if k[1] != open_start]:
            del self._runs[key]


def evict_agents(state: QueueState, keep_from: float) -> None:
    """Drop changes before ``keep_from``, keeping the last one before it (the state then)."""
    for timeline in state.agents.values():
        index = bisect.bisect_left(timeline.times, keep_from)
        if index > 1:
            del timeline.times[: index - 1]
            del timeline.states[: index - 1]
