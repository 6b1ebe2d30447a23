"""The supervisor's drill-down: from a queue's numbers to the calls behind them.

Fed by the engine after it applied a telephony event (so de-duplicated, never late), from the
queue's own state; nothing here is a second store. What it keeps (processors/drilldown_state.py)
is bounded by N (``engine.drilldown_length``) and exact whatever order the events arrived in:

* **Abandoned calls**: the N latest by (hang-up time, call id). An entry is created by the
  abandon and completed by the call's entry (caller, wait) whichever comes first; a call older
  than the N kept can never come back (the set of abandons only grows).
* **Recovered**: a later call of the same caller answered in this queue after the hang-up. Both
  orders are looked at: a new abandon scans the calls the queue still remembers, a new answer
  scans the N entries. A call is remembered (with its caller) until its exit is older than the
  lateness horizon, and an abandon or an entry applied now is not older than that horizon, so
  no answer after it has been forgotten yet.
* **Blocked calls**: the N latest by (time, event id).
* **Agents' day**: per agent, answered, missed and handled calls and handle time on the local
  day of the agent's latest call event; an event of an earlier day counts in no "today".
* **Agents' pause reason**: the latest change per agent by (time, state), as the timeline
  orders same-instant changes, with its reason.

The waiting calls are not kept at all: they are the queue's calls entered and not yet left.
"""

from __future__ import annotations

import bisect
import functools
import math
from typing import Any

from processors.drilldown_state import AbandonedCall, AgentDay, AgentNote, BlockedCall, DrillDown
from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallBlocked,
    CallEnded,
    CallEntered,
    CallMissed,
)
from processors.state import EXIT_ABANDONED, EXIT_ANSWERED, CallVisit, QueueState

__all__ = [
    "DEFAULT_LENGTH",
    "abandoned_today",
    "blocked_today",
    "evict_drilldown",
    "local_day",
    "on_agent_state",
    "on_call_event",
    "waiting_calls",
]

DEFAULT_LENGTH = 20
"""N, the abandoned and blocked calls kept per queue by default."""


@functools.lru_cache(maxsize=8192)
def _day_of_quarter(quarter: int, timezone: str) -> int:
    from processors.engine import local_midnight  # the engine imports this module

    return local_midnight(quarter, timezone)


def local_day(t: float, timezone: str) -> int:
    """The local midnight (POSIX seconds) of the day containing ``t``. Cached per quarter hour:
    every zone's offset and every daylight-saving change fall on a quarter hour."""
    second = math.floor(t)
    return _day_of_quarter(second - second % 900, timezone)


def on_call_event(state: QueueState, event: Any, t: float, length: int, timezone: str) -> None:
    """Record what an applied telephony event tells the drill-down."""
    drill = state.drill
    kind = type(event)
    if kind is CallEntered:
        if event.customer is not None:
            drill.callers[event.call_id] = event.customer
        visit = state.calls.get(event.call_id)
        if visit is not None:
            _visit_changed(state, event.call_id, visit, length)
    elif kind is CallAbandoned or kind is CallAnswered:
        visit = state.calls.get(event.call_id)
        if visit is not None:
            _visit_changed(state, event.call_id, visit, length)
        if kind is CallAnswered and event.agent is not None:
            _agent_day(drill, event.agent, t, timezone).answered += 1
    elif kind is CallBlocked:
        _insert(
            drill.blocked,
            BlockedCall(event.id, t, event.call_id, event.reason),
            (t, event.id),
            lambda b: (b.at, b.event_id),
            length,
        )
    elif kind is CallEnded:
        if event.agent is not None:
            day = _agent_day(drill, event.agent, t, timezone)
            day.handled += 1
            day.handle_seconds += event.talk_seconds + event.hold_seconds + event.wrapup_seconds
    elif kind is CallMissed:
        _agent_day(drill, event.agent, t, timezone).missed += 1


def on_agent_state(state: QueueState, event: AgentStateChanged, t: float) -> None:
    """Keep the agent's latest change by (time, state) with its reason."""
    notes = state.drill.agent_notes
    note = notes.get(event.agent)
    reason = event.reason
    if note is None or (t, event.state, reason or "") > (note.at, note.state, note.reason or ""):
        notes[event.agent] = AgentNote(t, event.state, reason)


def _agent_day(drill: DrillDown, agent: str, t: float, timezone: str) -> AgentDay:
    day = local_day(t, timezone)
    record = drill.agent_days.get(agent)
    if record is None or record.day < day:
        record = drill.agent_days[agent] = AgentDay(day)
    elif record.day > day:
        return AgentDay(day)  # an earlier day's call: counted in no "today" (not stored)
    return record


def _visit_changed(state: QueueState, call_id: str, visit: CallVisit, length: int) -> None:
    """A visit got its entry or its exit: update its abandoned entry, or what its answer
    recovers."""
    caller = state.drill.callers.get(call_id)
    if visit.exit_kind == EXIT_ABANDONED and visit.exit_at is not None:
        wait = visit.reported_wait
        if wait is None and visit.entered_at is not None:
            wait = max(0.0, visit.exit_at - visit.entered_at)
        recovered = _answered_after(state, caller, visit.exit_at) if caller is not None else None
        entry = AbandonedCall(call_id, visit.exit_at, wait, caller, recovered)
        _insert(state.drill.abandoned, entry, (entry.at, call_id), _abandon_key, length)
    elif visit.exit_kind == EXIT_ANSWERED and visit.exit_at is not None and caller is not None:
        answered = visit.exit_at
        for entry in state.drill.abandoned:
            if (
                entry.caller == caller
                and entry.at < answered
                and (entry.recovered_at is None or answered < entry.recovered_at)
            ):
                entry.recovered_at = answered


def _answered_after(state: QueueState, caller: str, after: float) -> float | None:
    """The earliest answer, after ``after``, of a call of ``caller`` the queue remembers."""
    callers = state.drill.callers
    earliest: float | None = None
    for call_id, visit in state.calls.items():
        answered = visit.exit_at
        if (
            visit.exit_kind == EXIT_ANSWERED
            and answered is not None
            and answered > after
            and (earliest is None or answered < earliest)
            and callers.get(call_id) == caller
        ):
            earliest = answered
    return earliest


def _abandon_key(entry: AbandonedCall) -> tuple[float, str]:
    return (entry.at, entry.call_id)


def _insert(items: list[Any], item: Any, key: tuple[float, str], key_of: Any, length: int) -> None:
    """Put ``item`` in ``items`` (sorted by ``key_of``, the ``length`` largest kept), replacing
    the entry of the same key."""
    keys = [key_of(existing) for existing in items]
    index = bisect.bisect_left(keys, key)
    if index < len(items) and keys[index] == key:
        items[index] = item
        return
    if len(items) >= length and index == 0:
        return  # older than every one of the N kept
    items.insert(index, item)
    if len(items) > length:
        del items[: len(items) - length]


def evict_drilldown(state: QueueState) -> None:
    """Forget the callers of calls the queue no longer remembers (evicted with them)."""
    calls = state.calls
    callers = state.drill.callers
    for call_id in [c for c in callers if c not in calls]:
        del callers[call_id]


def waiting_calls(state: QueueState, at: int) -> list[tuple[str, float, str | None]]:
    """(call id, entry time, caller) of the calls waiting at second ``at``, longest first."""
    before = at + 1
    callers = state.drill.callers
    waiting = [
        (call_id, visit.entered_at, callers.get(call_id))
        for call_id, visit in state.calls.items()
        if visit.entered_at is not None
        and visit.entered_at < before
        and (visit.exit_at is None or visit.exit_at >= before)
    ]
    waiting.sort(key=lambda w: (w[1], w[0]))
    return waiting


def abandoned_today(state: QueueState, at: int, timezone: str) -> list[AbandonedCall]:
    """The kept abandoned calls of the local day of ``at``, up to ``at``, latest first."""
    first = local_day(at, timezone)
    return [e for e in reversed(state.drill.abandoned) if first <= e.at < at + 1]


def blocked_today(state: QueueState, at: int, timezone: str) -> list[BlockedCall]:
    """The kept blocked calls of the local day of ``at``, up to ``at``, latest first."""
    first = local_day(at, timezone)
    return [e for e in reversed(state.drill.blocked) if first <= e.at < at + 1]
