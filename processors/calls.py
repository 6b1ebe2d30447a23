"""Telephony: how calls entering, leaving and being handled add to a queue's panes.

Definitions (docs/kpis.md): a call's *wait* is the source's own figure when the exit event
carries one (``wait_seconds``), else exit time - entry time. An exit is counted at the second it
happened, once its wait is known; if the exit arrives before the entry and has no reported wait,
it waits for the entry. Short abandons (wait < the queue's short-abandon threshold) are counted
only as short abandons. Each event counts in its own channel (processors/channels.py): an exit
in the exit's, within service level against that channel's threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from processors.channels import ContactPanes
from processors.counters import CounterIndex
from processors.events import (
    CallAbandoned,
    CallAnswered,
    CallBlocked,
    CallCallbackRequested,
    CallEnded,
    CallEntered,
    CallExited,
)
from processors.open_visits import OpenVisits
from processors.settings import QueueSettings
from processors.state import (
    EXIT_ABANDONED,
    EXIT_ANSWERED,
    EXIT_CALLBACK,
    EXIT_FLOW_OUT,
    EXIT_NONE,
    EXIT_OTHER,
    CallVisit,
    IvrVisit,
    QueueState,
)

__all__ = [
    "CALL_HANDLERS",
    "CALL_TYPES",
    "FLOW_OUT_EXIT",
    "CallEvent",
    "apply_call_event",
    "calls_waiting",
    "count_exit",
    "evict_calls",
    "evict_visits",
    "exit_wait",
]


def exit_wait(visit: CallVisit) -> float:
    """An exit's wait: the source's own when it reported one, else exit - entry."""
    assert visit.exit_at is not None
    if visit.reported_wait is not None:
        return visit.reported_wait
    assert visit.entered_at is not None
    return max(0.0, visit.exit_at - visit.entered_at)


def count_exit(panes: ContactPanes, visit: CallVisit, settings: QueueSettings) -> None:
    """Add a visit's exit at its second, in its channel (the exit event's)."""
    assert visit.exit_at is not None
    wait = exit_wait(visit)
    second = math.floor(visit.exit_at)
    channel = visit.channel
    by_channel = settings.sl_threshold_by_channel  # settings.sl_threshold(channel), inlined
    threshold = settings.sl_threshold_seconds
    if by_channel:
        threshold = by_channel.get(channel, threshold)
    within = wait <= threshold
    if visit.exit_kind == EXIT_ANSWERED:
        panes.add(channel, second, CounterIndex.ANSWERED, 1)
        panes.add(channel, second, CounterIndex.ANSWERED_WAIT_SUM, wait)
        if within:
            panes.add(channel, second, CounterIndex.ANSWERED_WITHIN_T, 1)
    elif visit.exit_kind == EXIT_ABANDONED:
        if wait < settings.short_abandon_seconds:
            panes.add(channel, second, CounterIndex.SHORT_ABANDONED, 1)
        else:
            panes.add(channel, second, CounterIndex.ABANDONED, 1)
            panes.add(channel, second, CounterIndex.ABANDONED_WAIT_SUM, wait)
            if within:
                panes.add(channel, second, CounterIndex.ABANDONED_WITHIN_T, 1)
    elif visit.exit_kind == EXIT_CALLBACK:
        panes.add(channel, second, CounterIndex.CALLBACKS_REQUESTED, 1)
        panes.add(channel, second, CounterIndex.CALLBACK_REQUEST_WAIT_SUM, wait)
    elif visit.exit_kind == EXIT_FLOW_OUT:
        panes.add(channel, second, CounterIndex.FLOW_OUTS, 1)
        panes.add(channel, second, CounterIndex.FLOW_OUT_WAIT_SUM, wait)
    else:
        panes.add(channel, second, CounterIndex.OTHER_EXITS, 1)
        panes.add(channel, second, CounterIndex.OTHER_EXITS_WAIT_SUM, wait)
    visit.counted = True


CallEvent = CallEntered | CallBlocked | CallAnswered | CallAbandoned | CallExited | CallEnded
CALL_TYPES = (CallEntered, CallBlocked, CallAnswered, CallAbandoned, CallExited, CallEnded)


def on_blocked(
    state: QueueState, panes: ContactPanes, event: CallBlocked, t: float, settings: QueueSettings
) -> bool:
    panes.add(event.channel, math.floor(t), CounterIndex.BLOCKED, 1)
    return True


def on_ended(
    state: QueueState, panes: ContactPanes, event: CallEnded, t: float, settings: QueueSettings
) -> bool:
    second = math.floor(t)
    panes.add(event.channel, second, CounterIndex.HANDLED, 1)
    panes.add(
        event.channel,
        second,
        CounterIndex.HANDLE_TIME_SUM,
        event.talk_seconds + event.hold_seconds + event.wrapup_seconds,
    )
    return True


def on_entered(
    state: QueueState, panes: ContactPanes, event: CallEntered, t: float, settings: QueueSettings
) -> bool:
    visit = state.calls.get(event.call_id)
    if visit is None:
        visit = state.calls[event.call_id] = CallVisit(entered_at=t)
    elif visit.entered_at is None:
        visit.entered_at = t
    else:
        return False  # a second entry for the same visit
    panes.add(event.channel, math.floor(t), CounterIndex.ENTERED, 1)
    if visit.exit_kind != EXIT_NONE and not visit.counted:
        count_exit(panes, visit, settings)
    return True


def _exit_handler(exit_kind: int) -> CallHandler:
    def on_exit(
        state: QueueState,
        panes: ContactPanes,
        event: CallAnswered | CallAbandoned | CallExited | CallCallbackRequested,
        t: float,
        settings: QueueSettings,
    ) -> bool:
        visit = state.calls.get(event.call_id)
        if visit is None:
            visit = state.calls[event.call_id] = CallVisit()
        elif visit.exit_kind != EXIT_NONE:
            return False  # the visit already ended; a second exit is not a new fact
        visit.exit_kind = exit_kind
        visit.exit_at = t
        visit.reported_wait = event.wait_seconds
        visit.channel = event.channel
        if visit.reported_wait is not None or visit.entered_at is not None:
            count_exit(panes, visit, settings)
        return True

    return on_exit


CallHandler = Callable[[QueueState, ContactPanes, Any, float, QueueSettings], bool]
CALL_HANDLERS: dict[type, CallHandler] = {
    CallEntered: on_entered,
    CallBlocked: on_blocked,
    CallAnswered: _exit_handler(EXIT_ANSWERED),
    CallAbandoned: _exit_handler(EXIT_ABANDONED),
    CallExited: _exit_handler(EXIT_OTHER),
    CallCallbackRequested: _exit_handler(EXIT_CALLBACK),
    CallEnded: on_ended,
}
"""One function per telephony event type (a dict look-up, not a chain of isinstance checks)."""
FLOW_OUT_EXIT: CallHandler = _exit_handler(EXIT_FLOW_OUT)
"""A ``call.transferred`` with ``while_queued``: an exit of its own kind (callbacks.py)."""


def apply_call_event(
    state: QueueState, panes: ContactPanes, event: CallEvent, t: float, settings: QueueSettings
) -> bool:
    """Apply one telephony event at event time ``t``; False if it carried no new fact."""
    return CALL_HANDLERS[type(event)](state, panes, event, t, settings)


def calls_waiting(
    state: QueueState, at: int, open_calls: OpenVisits | None = None
) -> tuple[int, float]:
    """(calls waiting, oldest wait in seconds) at whole second ``at``; ``open_calls``: the
    visits that may still be open, kept beside the state (processors/open_visits.py)."""
    waiting = 0
    oldest: int | None = None
    before = at + 1  # floor(t) <= at  <=>  t < at + 1
    visits = state.calls
    for visit in visits.values() if open_calls is None else open_calls.visits(visits, before):
        # Most visits remembered have left (kept for the lateness horizon): test that first.
        exit_at = visit.exit_at
        if exit_at is not None and exit_at < before:
            continue
        entered_at = visit.entered_at
        if entered_at is None or entered_at >= before:
            continue
        waiting += 1
        entered = math.floor(entered_at)
        if oldest is None or entered < oldest:
            oldest = entered
    return waiting, float(at - oldest) if oldest is not None else 0.0


def evict_calls(state: QueueState, finished_before: float, lost_before: float) -> None:
    """Forget visits that can no longer change any KPI.

    A finished visit (exit counted) whose exit is older than ``finished_before`` (the lateness
    horizon) is done. An exit still waiting for its entry past that horizon will never get one
    (the entry would be late): it is dropped and counted in ``unmatched_exits``. A call that
    entered before ``lost_before`` and never left is presumed lost (``lost_calls``).
    """
    evict_visits(state, state.calls, finished_before, lost_before)


def evict_visits(
    state: QueueState,
    visits: dict[str, CallVisit] | dict[str, IvrVisit],
    finished_before: float,
    lost_before: float,
) -> None:
    """:func:`evict_calls` over any visits with an entry and an exit (queue visits, IVR
    passes: processors/ivr.py), counted in the same ``unmatched_exits`` and ``lost_calls``."""
    stale: list[str] = []
    for call_id, visit in visits.items():
        if visit.exit_at is not None:
            if visit.exit_at < finished_before:
                if not visit.counted:
                    state.unmatched_exits += 1
                stale.append(call_id)
        elif visit.entered_at is not None and visit.entered_at < lost_before:
            state.lost_calls += 1
            stale.append(call_id)
    for call_id in stale:
        del visits[call_id]
