"""Agent states: who is in which state now, and occupancy over a window.

Each agent has a timeline of (event time, state) changes, kept sorted so a late change lands in
the right place. *Occupancy* over a span is time on calls and in wrap-up divided by that plus
available time, with every state interval clipped to the span; not-ready and logged-out time
count in neither. The seconds ``first..last`` of a window are the real-time span
``[first, last + 1)``, so a change at 10:00:00.7 belongs to second 10:00:00 as everywhere else.
"""

from __future__ import annotations

import bisect

from processors.state import QueueState

__all__ = ["agents_by_state", "apply_agent_state", "evict_agents", "occupancy"]

BUSY = frozenset({"on_call", "wrap_up"})


def apply_agent_state(state: QueueState, agent: str, t: float, new_state: str) -> bool:
    timeline = state.agents.setdefault(agent, [])
    entry = (t, new_state)
    if timeline and entry >= timeline[-1]:
        if entry == timeline[-1]:
            return False
        timeline.append(entry)
    else:
        index = bisect.bisect_left(timeline, entry)
        if index < len(timeline) and timeline[index] == entry:
            return False
        timeline.insert(index, entry)
    return True


def _state_at(timeline: list[tuple[float, str]], at: int) -> str | None:
    # The last change in or before second `at`. Two changes at the exact same instant are
    # ordered by state name: arbitrary, but the same whatever order the events arrived in.
    index = bisect.bisect_left(timeline, (float(at + 1), ""))
    return timeline[index - 1][1] if index else None


def agents_by_state(state: QueueState, at: int) -> tuple[dict[str, int], int]:
    """({state: agents}, staffed) at second ``at``; logged-out agents are not listed."""
    counts: dict[str, int] = {}
    for timeline in state.agents.values():
        current = _state_at(timeline, at)
        if current is None or current == "logged_out":
            continue
        counts[current] = counts.get(current, 0) + 1
    return counts, sum(counts.values())


def occupancy(state: QueueState, first: int, last: int) -> float | None:
    """Busy / (busy + available) over the seconds ``first..last`` inclusive."""
    start, end = float(first), float(last + 1)
    busy = available = 0.0
    for timeline in state.agents.values():
        # Only the last change before the span and the changes inside it can overlap it:
        # start there and stop at the span's end instead of walking the whole day's timeline
        # (the skipped entries contribute nothing, so the sums are the same, bit for bit).
        begin = max(bisect.bisect_left(timeline, (start, "")) - 1, 0)
        for index in range(begin, len(timeline)):
            t, current = timeline[index]
            if t >= end:
                break
            if current not in BUSY and current != "available":
                continue
            until = timeline[index + 1][0] if index + 1 < len(timeline) else end
            overlap = min(until, end) - max(t, start)
            if overlap <= 0:
                continue
            if current == "available":
                available += overlap
            else:
                busy += overlap
    total = busy + available
    return busy / total if total > 0 else None


def evict_agents(state: QueueState, keep_from: float) -> None:
    """Drop changes before ``keep_from``, keeping the last one before it (the state then)."""
    for timeline in state.agents.values():
        index = bisect.bisect_left(timeline, (keep_from, ""))
        if index > 1:
            del timeline[: index - 1]
