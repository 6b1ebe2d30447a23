"""The supervisor's drill-down: from a queue's numbers to the calls behind them.

Fed by the engine after it applied a telephony event (so de-duplicated, never late), from the
queue's own state; nothing here is a second store. What it keeps (processors/drilldown_state.py)
is bounded by N (``engine.drilldown_length``) and exact whatever order the events arrived in:

* **Abandoned calls**: the N latest by (hang-up time, call id). An entry is created by the
  abandon and completed by the call's entry (caller, wait) whichever comes first; a call older
  than the N kept can never come back (the set of abandons only grows).
* **Recovered**: a later call of the same caller answered in this queue after the hang-up. Both
  orders are looked at: a new abandon looks up the caller's answers the queue still remembers,
  a new answer scans the N entries. Answers (like the calls themselves) are remembered until
  they are older than the lateness horizon, and an abandon or an entry applied now is not older
  than that horizon, so no answer after it has been forgotten yet.
* **Blocked calls**: the N latest by (time, event id).
* **Agents' day**: per agent, answered, missed and handled calls and handle time on the local
  day of the agent's latest call event; an event of an earlier day counts in no "today".
* **Agents' pause reason**: the changes that carried a reason, each with its (time, state):
  the reason shown is that of the agent's current change (processors/agent_board.py).

The waiting calls are not kept at all: they are the queue's calls entered and not yet left.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable
from typing import Any

from processors.calendars import local_midnight
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
    "DRILL_HANDLERS",
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
    return local_midnight(quarter, timezone)


def local_day(t: float, timezone: str) -> int:
    """The local midnight (POSIX seconds) of the day containing ``t``. Cached per quarter hour:
    every zone's offset and every daylight-saving change fall on a quarter hour."""
    second = math.floor(t)
    return _day_of_quarter(second - second % 900, timezone)


DrillHandler = Callable[[QueueState, Any, float, int, str], None]


def _on_entered(state: QueueState, event: CallEntered, t: float, length: int, zone: str) -> None:
    caller = event.customer
    if caller is not None:
        state.drill.callers[event.call_id] = caller
    visit = state.calls[event.call_id]
    if visit.exit_kind == EXIT_ABANDONED:
        _abandoned(state, event.call_id, visit, length)
    elif visit.exit_kind == EXIT_ANSWERED and caller is not None:
        _answered(state.drill, caller, visit)


def _on_abandoned(
    state: QueueState, event: CallAbandoned, t: float, length: int, zone: str
) -> None:
    _abandoned(state, event.call_id, state.calls[event.call_id], length)


def _on_answered(state: QueueState, event: CallAnswered, t: float, length: int, zone: str) -> None:
    drill = state.drill
    caller = drill.callers.get(event.call_id)
    if caller is not None:
        _answered(drill, caller, state.calls[event.call_id])
    if event.agent is not None:
        _agent_day(drill, event.agent, t, zone).answered += 1


def _on_blocked(state: QueueState, event: CallBlocked, t: float, length: int, zone: str) -> None:
    blocked = BlockedCall(event.id, t, event.call_id, event.reason)
    _insert(state.drill.blocked, blocked, (t, event.id), _blocked_key, length)


def _on_ended(state: QueueState, event: CallEnded, t: float, length: int, zone: str) -> None:
    if event.agent is not None:
        day = _agent_day(state.drill, event.agent, t, zone)
        day.handled += 1
        day.handle_seconds += event.talk_seconds + event.hold_seconds + event.wrapup_seconds


def _on_missed(state: QueueState, event: CallMissed, t: float, length: int, zone: str) -> None:
    _agent_day(state.drill, event.agent, t, zone).missed += 1


DRILL_HANDLERS: dict[type, DrillHandler] = {
    CallEntered: _on_entered,
    CallAbandoned: _on_abandoned,
    CallAnswered: _on_answered,
    CallBlocked: _on_blocked,
    CallEnded: _on_ended,
    CallMissed: _on_missed,
}
"""What each applied telephony event tells the drill-down, by type (the engine looks its
handler up once, not per event)."""


def on_call_event(state: QueueState, event: Any, t: float, length: int, timezone: str) -> None:
    """Record what an applied telephony event tells the drill-down."""
    handler = DRILL_HANDLERS.get(type(event))
    if handler is not None:
        handler(state, event, t, length, timezone)


def on_agent_state(state: QueueState, event: AgentStateChanged, t: float) -> None:
    """Keep the reason of an applied change that has one (the engine calls this only then)."""
    reason = event.reason
    if reason is not None:
        state.drill.reasons.setdefault(event.agent, []).append(AgentNote(t, event.state, reason))


def _agent_day(drill: DrillDown, agent: str, t: float, timezone: str) -> AgentDay:
    record = drill.agent_days.get(agent)
    if record is not None and 0 <= t - record.day < 82_800:
        return record  # within 23 h of its midnight: the same local day (none is shorter)
    day = local_day(t, timezone)
    if record is None or record.day < day:
        record = drill.agent_days[agent] = AgentDay(day)
    elif record.day > day:
        return AgentDay(day)  # an earlier day's call: counted in no "today" (not stored)
    return record


def _abandoned(state: QueueState, call_id: str, visit: CallVisit, length: int) -> None:
    """An abandoned visit got its exit or its entry: (re)write its entry in the list."""
    exit_at = visit.exit_at
    assert exit_at is not None
    drill = state.drill
    caller = drill.callers.get(call_id)
    wait = visit.reported_wait
    if wait is None and visit.entered_at is not None:
        wait = max(0.0, exit_at - visit.entered_at)
    recovered = None
    if caller is not None:
        answers = drill.answers.get(caller)
        if answers:
            later = [t for t in answers if t > exit_at]
            recovered = min(later) if later else None
    entry = AbandonedCall(call_id, exit_at, wait, caller, recovered)
    _insert(drill.abandoned, entry, (exit_at, call_id), _abandon_key, length)


def _answered(drill: DrillDown, caller: str, visit: CallVisit) -> None:
    """An answered visit of a known caller: remember the answer, and recover what it does."""
    answered = visit.exit_at
    assert answered is not None
    drill.answers.setdefault(caller, []).append(answered)
    for entry in drill.abandoned:
        if (
            entry.caller == caller
            and entry.at < answered
            and (entry.recovered_at is None or answered < entry.recovered_at)
        ):
            entry.recovered_at = answered


def _abandon_key(entry: AbandonedCall) -> tuple[float, str]:
    return (entry.at, entry.call_id)


def _blocked_key(entry: BlockedCall) -> tuple[float, str]:
    return (entry.at, entry.event_id)


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


def evict_drilldown(state: QueueState, horizon: float) -> None:
    """Forget the callers of calls the queue no longer remembers (evicted with them), the
    answers older than the lateness ``horizon`` (the answered calls evicted with it), and the
    reasons of agent changes the agents' timelines no longer hold."""
    calls = state.calls
    drill = state.drill
    callers = drill.callers
    for call_id in [c for c in callers if c not in calls]:
        del callers[call_id]
    answers = drill.answers
    for caller in list(answers):
        kept = [t for t in answers[caller] if t >= horizon]
        if kept:
            answers[caller] = kept
        else:
            del answers[caller]
    reasons = drill.reasons
    for agent in list(reasons):
        timeline = state.agents.get(agent)
        oldest = timeline.times[0] if timeline is not None and len(timeline.times) else math.inf
        kept_notes = [note for note in reasons[agent] if note.at >= oldest]
        if kept_notes:
            reasons[agent] = kept_notes
        else:
            del reasons[agent]


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
