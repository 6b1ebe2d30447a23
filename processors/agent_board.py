"""Agents, live: one row per agent of a queue, from the queue's state at an instant.

State and time in state come from the agent's timeline (processors/agents.py), the pause reason
is the reason of the agent's current change (the last one at or before the instant), today's
calls from its per-agent day (processors/drilldown.py), and occupancy over the last hour with
the same definition as the queue's occupancy (docs/kpis.md), for this agent's timeline alone.
"""

from __future__ import annotations

import bisect

from msgspec import Struct

from processors.agents import BUSY
from processors.drilldown import local_day
from processors.state import QueueState, Timeline

__all__ = ["AgentRow", "agent_rows", "logged_in", "pause_reasons"]

OCCUPANCY_SECONDS = 3600


class AgentRow(Struct, kw_only=True):
    agent: str
    state: str
    since: float
    """Event time the agent entered the current state (the first of a run of changes to it)."""
    reason: str | None = None
    answered: int = 0
    missed: int = 0
    handled: int = 0
    aht_seconds: float | None = None
    occupancy_1h: float | None = None


def _current(timeline: Timeline, at: int) -> tuple[str, float, float] | None:
    """(state, since, time of the last change) at second ``at``; None before the first."""
    index = bisect.bisect_left(timeline.times, float(at + 1))
    if not index:
        return None
    states, times = timeline.states, timeline.times
    current = states[index - 1]
    start = index - 1
    while start > 0 and states[start - 1] == current:
        start -= 1
    return current, times[start], times[index - 1]


def _occupancy(timeline: Timeline, first: float, end: float) -> float | None:
    """Busy / (busy + available) of one agent over ``[first, end)``."""
    busy = available = 0.0
    times, states = timeline.times, timeline.states
    begin = max(0, bisect.bisect_left(times, first) - 1)
    stop = bisect.bisect_left(times, end, begin)
    for index in range(begin, stop):
        start = max(times[index], first)
        until = min(times[index + 1], end) if index + 1 < len(times) else end
        if until <= start:
            continue
        if states[index] == "available":
            available += until - start
        elif states[index] in BUSY:
            busy += until - start
    total = busy + available
    return busy / total if total > 0 else None


def agent_rows(state: QueueState, at: int, timezone: str) -> list[AgentRow]:
    """The queue's agents not logged out at second ``at``, by agent id."""
    drill = state.drill
    today = local_day(at, timezone)
    rows: list[AgentRow] = []
    for agent in sorted(state.agents):
        current = _current(state.agents[agent], at)
        if current is None or current[0] == "logged_out":
            continue
        name, since, last = current
        reason = next(
            (n.reason for n in drill.reasons.get(agent, ()) if n.at == last and n.state == name),
            None,
        )
        row = AgentRow(agent=agent, state=name, since=since, reason=reason)
        day = drill.agent_days.get(agent)
        if day is not None and day.day == today:
            row.answered, row.missed, row.handled = day.answered, day.missed, day.handled
            row.aht_seconds = day.handle_seconds / day.handled if day.handled else None
        row.occupancy_1h = _occupancy(
            state.agents[agent], float(at + 1 - OCCUPANCY_SECONDS), float(at + 1)
        )
        rows.append(row)
    return rows


def logged_in(state: QueueState, agent: str, at: int) -> bool:
    """Whether ``agent`` is logged in to the queue (any state but logged out) at ``at``."""
    timeline = state.agents.get(agent)
    current = None if timeline is None else _current(timeline, at)
    return current is not None and current[0] != "logged_out"


def pause_reasons(rows: list[AgentRow]) -> dict[str, int]:
    """Agents not ready, by pause reason (``unknown`` when the source gave none)."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.state == "not_ready":
            key = row.reason or "unknown"
            counts[key] = counts.get(key, 0) + 1
    return counts
