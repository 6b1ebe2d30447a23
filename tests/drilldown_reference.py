"""A plain recomputation of the drill-down (docs/kpis.md#drill-down) from the events.

Independent of processors/drilldown.py: it first replays the engine's admission rule the naive
way (an event is applied once per id, unless it is older than its queue's newest telephony event
time minus the lateness when it arrives), then answers each question with a loop over the applied
events. No state, no incremental updates, no eviction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from processors.calendars import local_midnight
from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallBlocked,
    CallEnded,
    CallEntered,
    CallExited,
    CallMissed,
    Event,
)

EXITS = (CallAnswered, CallAbandoned, CallExited)


def ts(event: Event) -> float:
    return event.time.timestamp()


def applied_events(arrivals: list[Event], lateness: float) -> list[Event]:
    """The events the engine applies, in arrival order (first copy of each id, none late)."""
    newest: dict[str, float] = {}
    seen: set[str] = set()
    applied = []
    for event in arrivals:
        t = ts(event)
        mark = newest.get(event.queue)
        if mark is not None and t < mark - lateness:
            continue
        if event.id in seen:
            continue
        seen.add(event.id)
        applied.append(event)
        newest[event.queue] = t if mark is None else max(mark, t)
    return applied


def drilldown(
    events: list[Event], queue: str, at: int, length: int, timezone: str
) -> dict[str, Any]:
    """The drill-down of ``queue`` at second ``at`` from the applied ``events``."""
    mine = [e for e in events if e.queue == queue]
    entries = {e.call_id: e for e in mine if isinstance(e, CallEntered)}
    exits = {e.call_id: e for e in mine if isinstance(e, EXITS)}
    caller = {call: e.customer for call, e in entries.items()}
    today = local_midnight(at, timezone)

    waiting = sorted(
        (ts(e), call)
        for call, e in entries.items()
        if ts(e) < at + 1 and not (call in exits and ts(exits[call]) < at + 1)
    )
    abandoned = []
    for call, e in exits.items():
        if not isinstance(e, CallAbandoned):
            continue
        wait = e.wait_seconds
        if wait is None and call in entries:
            wait = max(0.0, ts(e) - ts(entries[call]))
        who = caller.get(call)
        answers = [
            ts(x)
            for c, x in exits.items()
            if isinstance(x, CallAnswered) and who is not None and caller.get(c) == who
            if ts(x) > ts(e)
        ]
        abandoned.append((ts(e), call, wait, who, min(answers, default=None)))
    abandoned = sorted(abandoned)[-length:] if length else []
    blocked = sorted((ts(e), e.id, e.call_id, e.reason) for e in mine if isinstance(e, CallBlocked))
    blocked = blocked[-length:] if length else []
    return {
        "waiting": [(call, t, caller.get(call)) for t, call in waiting],
        "abandoned": [
            (call, t, wait, who, recovered)
            for t, call, wait, who, recovered in reversed(abandoned)
            if today <= t < at + 1
        ],
        "blocked": [
            (call, t, reason) for t, _, call, reason in reversed(blocked) if today <= t < at + 1
        ],
        "agents": agents(mine, at, today, timezone),
    }


def _day(t: float, timezone: str) -> int:
    return local_midnight(math.floor(t), timezone)


def agents(mine: list[Event], at: int, today: int, timezone: str) -> dict[str, dict[str, Any]]:
    changes: dict[str, list[tuple[float, str, str | None]]] = defaultdict(list)
    for e in mine:
        if isinstance(e, AgentStateChanged):
            changes[e.agent].append((ts(e), e.state, e.reason))
    calls: dict[str, list[tuple[float, str, float]]] = defaultdict(list)
    for e in mine:
        if isinstance(e, CallAnswered) and e.agent is not None:
            calls[e.agent].append((ts(e), "answered", 0.0))
        elif isinstance(e, CallMissed):
            calls[e.agent].append((ts(e), "missed", 0.0))
        elif isinstance(e, CallEnded) and e.agent is not None:
            handle = e.talk_seconds + e.hold_seconds + e.wrapup_seconds
            calls[e.agent].append((ts(e), "handled", handle))
    rows: dict[str, dict[str, Any]] = {}
    for agent, history in changes.items():
        history.sort(key=lambda c: (c[0], c[1]))
        before = [c for c in history if c[0] < at + 1]
        if not before or before[-1][1] == "logged_out":
            continue
        current = before[-1][1]
        since = before[-1][0]
        for t, name, _ in reversed(before):
            if name != current:
                break
            since = t
        reason = before[-1][2]  # the reason of the change the agent is in now
        last_day = max((_day(t, timezone) for t, _, _ in calls[agent]), default=None)
        counted = [c for c in calls[agent] if _day(c[0], timezone) == last_day == today]
        handled = [c for c in counted if c[1] == "handled"]
        first, end = at + 1 - 3600.0, at + 1.0
        busy = available = 0.0
        for index, (t, name, _) in enumerate(history):
            until = history[index + 1][0] if index + 1 < len(history) else end
            overlap = min(until, end) - max(t, first)
            if overlap > 0 and name == "available":
                available += overlap
            elif overlap > 0 and name in ("on_call", "wrap_up"):
                busy += overlap
        rows[agent] = {
            "state": current,
            "since": since,
            "reason": reason,
            "answered": sum(1 for c in counted if c[1] == "answered"),
            "missed": sum(1 for c in counted if c[1] == "missed"),
            "handled": len(handled),
            "aht_seconds": sum(c[2] for c in handled) / len(handled) if handled else None,
            "occupancy_1h": busy / (busy + available) if busy + available > 0 else None,
        }
    return rows
