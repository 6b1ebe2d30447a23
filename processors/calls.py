"""Telephony: how calls entering, leaving and being handled add to a queue's panes.

Definitions (docs/kpis.md): a call's *wait* is the source's own figure when the exit event
carries one (``wait_seconds``), else exit time - entry time. An exit is counted at the second it
happened, once its wait is known; if the exit arrives before the entry and has no reported wait,
it waits for the entry. Short abandons (wait < the queue's short-abandon threshold) are counted
only as short abandons.
"""

from __future__ import annotations

import math

from processors.counters import C
from processors.events import (
    CallAbandoned,
    CallAnswered,
    CallBlocked,
    CallEnded,
    CallEntered,
    CallExited,
)
from processors.panes import PaneStore
from processors.settings import QueueSettings
from processors.state import (
    EXIT_ABANDONED,
    EXIT_ANSWERED,
    EXIT_NONE,
    EXIT_OTHER,
    CallVisit,
    QueueState,
)

__all__ = ["CALL_TYPES", "CallEvent", "apply_call_event", "calls_waiting", "evict_calls"]


def _count_exit(panes: PaneStore, visit: CallVisit, settings: QueueSettings) -> None:
    assert visit.exit_at is not None
    if visit.reported_wait is not None:
        wait = visit.reported_wait
    else:
        assert visit.entered_at is not None
        wait = max(0.0, visit.exit_at - visit.entered_at)
    second = math.floor(visit.exit_at)
    within = wait <= settings.sl_threshold_seconds
    if visit.exit_kind == EXIT_ANSWERED:
        panes.add(second, C.ANSWERED, 1)
        panes.add(second, C.ANSWERED_WAIT_SUM, wait)
        if within:
            panes.add(second, C.ANSWERED_WITHIN_T, 1)
    elif visit.exit_kind == EXIT_ABANDONED:
        if wait < settings.short_abandon_seconds:
            panes.add(second, C.SHORT_ABANDONED, 1)
        else:
            panes.add(second, C.ABANDONED, 1)
            panes.add(second, C.ABANDONED_WAIT_SUM, wait)
            if within:
                panes.add(second, C.ABANDONED_WITHIN_T, 1)
    else:
        panes.add(second, C.OTHER_EXITS, 1)
        panes.add(second, C.OTHER_EXITS_WAIT_SUM, wait)
    visit.counted = True


_EXIT_KINDS = {CallAnswered: EXIT_ANSWERED, CallAbandoned: EXIT_ABANDONED, CallExited: EXIT_OTHER}

CallEvent = CallEntered | CallBlocked | CallAnswered | CallAbandoned | CallExited | CallEnded
CALL_TYPES = (CallEntered, CallBlocked, CallAnswered, CallAbandoned, CallExited, CallEnded)


def apply_call_event(
    state: QueueState, panes: PaneStore, event: CallEvent, t: float, settings: QueueSettings
) -> bool:
    """Apply one telephony event at event time ``t``; False if it carried no new fact."""
    second = math.floor(t)
    if isinstance(event, CallBlocked):
        panes.add(second, C.BLOCKED, 1)
        return True
    if isinstance(event, CallEnded):
        panes.add(second, C.HANDLED, 1)
        panes.add(
            second,
            C.HANDLE_TIME_SUM,
            event.talk_seconds + event.hold_seconds + event.wrapup_seconds,
        )
        return True
    visit = state.calls.get(event.call_id)
    if isinstance(event, CallEntered):
        if visit is None:
            visit = state.calls[event.call_id] = CallVisit(entered_at=t)
        elif visit.entered_at is None:
            visit.entered_at = t
        else:
            return False  # a second entry for the same visit
        panes.add(second, C.ENTERED, 1)
        if visit.exit_kind != EXIT_NONE and not visit.counted:
            _count_exit(panes, visit, settings)
        return True
    if visit is None:
        visit = state.calls[event.call_id] = CallVisit()
    elif visit.exit_kind != EXIT_NONE:
        return False  # the visit already ended; a second exit is not a new fact
    visit.exit_kind = _EXIT_KINDS[type(event)]
    visit.exit_at = t
    visit.reported_wait = event.wait_seconds
    if visit.reported_wait is not None or visit.entered_at is not None:
        _count_exit(panes, visit, settings)
    return True


def calls_waiting(state: QueueState, at: int) -> tuple[int, float]:
    """(calls waiting, oldest wait in seconds) at whole second ``at``."""
    waiting = 0
    oldest: int | None = None
    for visit in state.calls.values():
        if visit.entered_at is None:
            continue
        entered = math.floor(visit.entered_at)
        if entered > at:
            continue
        if visit.exit_at is not None and math.floor(visit.exit_at) <= at:
            continue
        waiting += 1
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
    stale: list[str] = []
    for call_id, visit in state.calls.items():
        if visit.exit_at is not None:
            if visit.exit_at < finished_before:
                if not visit.counted:
                    state.unmatched_exits += 1
                stale.append(call_id)
        elif visit.entered_at is not None and visit.entered_at < lost_before:
            state.lost_calls += 1
            stale.append(call_id)
    for call_id in stale:
        del state.calls[call_id]
