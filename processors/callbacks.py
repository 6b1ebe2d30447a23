"""Callbacks and transfers: calls that leave a queue without being answered or abandoned there,
and answered calls passed on.

Definitions (docs/kpis.md, Callbacks and transfers):

* ``call.callback_requested`` is an exit of the queue of its own kind (not an abandon), counted
  at the request with its wait like every exit (processors/calls.py), and it opens a callback.
* A callback is *pending* from its request's second until its completion's second.
* ``call.callback_completed`` closes it; a successful one adds its time to callback
  (completion - request) at the completion's second, once the request is known: a completion
  that arrives before its request waits for it, as an exit waits for its entry.
* ``call.transferred`` with ``while_queued`` is a *flow-out*, an exit of its own kind; without
  it, an answered call transferred by its agent (``transfers``), not an exit.
"""

from __future__ import annotations

import math

from processors.calls import CALL_HANDLERS, FLOW_OUT_EXIT, count_exit, exit_wait
from processors.channels import ContactPanes
from processors.counters import CounterIndex
from processors.events import (
    CallCallbackAttempted,
    CallCallbackCompleted,
    CallCallbackRequested,
    CallTransferred,
)
from processors.panes import PaneStore
from processors.settings import QueueSettings
from processors.state import EXIT_CALLBACK, Callback, QueueState

__all__ = [
    "callbacks_pending",
    "evict_callbacks",
    "on_callback_attempted",
    "on_callback_completed",
    "on_callback_requested",
    "on_transferred",
]

_EXIT_AS_CALLBACK = CALL_HANDLERS[CallCallbackRequested]


def _time(panes: PaneStore, callback: Callback) -> None:
    """Add a successful callback's time to callback at its completion, once both ends are in
    (to the queue's panes: a callback after its request has no channel)."""
    if callback.timed or not callback.success:
        return
    if callback.requested_at is None or callback.completed_at is None:
        return
    second = math.floor(callback.completed_at)
    panes.add(second, CounterIndex.CALLBACKS_TIMED, 1)
    panes.add(
        second,
        CounterIndex.CALLBACK_TIME_SUM,
        max(0.0, callback.completed_at - callback.requested_at),
    )
    callback.timed = True


def on_callback_requested(
    state: QueueState,
    panes: ContactPanes,
    event: CallCallbackRequested,
    t: float,
    settings: QueueSettings,
) -> bool:
    """The request is the call's exit from the queue and the callback's start; False if the
    call already had an exit and a callback (nothing new)."""
    callback = state.callbacks.get(event.call_id)
    if callback is not None and callback.requested_at is not None:
        if t < callback.requested_at or _same_instant_and_first(state, event, callback, t):
            _request_earlier(state, panes, event, callback, t, settings)
            return True
        # Asked again: no second callback and no second exit, also once the call's visit has
        # been forgotten while the callback is still open.
        return False
    _EXIT_AS_CALLBACK(state, panes, event, t, settings)
    if callback is None:
        callback = state.callbacks[event.call_id] = Callback(requested_at=t)
    else:
        callback.requested_at = t
    _time(panes.total, callback)
    return True


def _same_instant_and_first(
    state: QueueState, event: CallCallbackRequested, callback: Callback, t: float
) -> bool:
    """Two requests of one call at the same instant, whichever arrived first: the one that
    reports a wait is the exit's, and if both or neither do, the one whose channel sorts first
    (docs/kpis.md), so that neither the wait nor the channel depends on arrival order."""
    if t != callback.requested_at:
        return False
    visit = state.calls.get(event.call_id)
    if visit is None or visit.exit_kind != EXIT_CALLBACK or visit.exit_at != t:
        return False
    reports, reported = event.wait_seconds is not None, visit.reported_wait is not None
    if reports != reported:
        return reports
    return event.channel < visit.channel


def _request_earlier(
    state: QueueState,
    panes: ContactPanes,
    event: CallCallbackRequested,
    callback: Callback,
    t: float,
    settings: QueueSettings,
) -> None:
    """An earlier request of a callback arrived after a later one (out of order): the callback
    is one, requested at its first request in time (docs/kpis.md, one callback per call and
    queue), so the queue exit and the time to callback move to it."""
    visit = state.calls.get(event.call_id)
    if visit is not None and visit.exit_kind == EXIT_CALLBACK and visit.exit_at is not None:
        if visit.counted:
            second, channel = math.floor(visit.exit_at), visit.channel
            panes.add(channel, second, CounterIndex.CALLBACKS_REQUESTED, -1)
            panes.add(channel, second, CounterIndex.CALLBACK_REQUEST_WAIT_SUM, -exit_wait(visit))
            visit.counted = False
        visit.exit_at = t
        visit.reported_wait = event.wait_seconds
        visit.channel = event.channel
        if visit.reported_wait is not None or visit.entered_at is not None:
            count_exit(panes, visit, settings)
    if callback.timed:
        assert callback.completed_at is not None and callback.requested_at is not None
        second = math.floor(callback.completed_at)
        panes.total.add(second, CounterIndex.CALLBACKS_TIMED, -1)
        panes.total.add(
            second,
            CounterIndex.CALLBACK_TIME_SUM,
            -max(0.0, callback.completed_at - callback.requested_at),
        )
        callback.timed = False
    callback.requested_at = t
    _time(panes.total, callback)


def on_callback_attempted(
    state: QueueState,
    panes: ContactPanes,
    event: CallCallbackAttempted,
    t: float,
    settings: QueueSettings,
) -> bool:
    panes.total.add(math.floor(t), CounterIndex.CALLBACK_ATTEMPTS, 1)
    return True


def on_callback_completed(
    state: QueueState,
    panes: ContactPanes,
    event: CallCallbackCompleted,
    t: float,
    settings: QueueSettings,
) -> bool:
    """Counted at once (completed, succeeded); its time to callback once the request is known.
    A second completion of the same callback is no new fact."""
    callback = state.callbacks.get(event.call_id)
    if callback is None:
        callback = state.callbacks[event.call_id] = Callback()
    elif callback.completed_at is not None:
        return False
    callback.completed_at = t
    callback.success = event.success
    second = math.floor(t)
    panes.total.add(second, CounterIndex.CALLBACKS_COMPLETED, 1)
    if event.success:
        panes.total.add(second, CounterIndex.CALLBACKS_SUCCEEDED, 1)
    _time(panes.total, callback)
    return True


def on_transferred(
    state: QueueState,
    panes: ContactPanes,
    event: CallTransferred,
    t: float,
    settings: QueueSettings,
) -> bool:
    if event.while_queued:
        return FLOW_OUT_EXIT(state, panes, event, t, settings)
    panes.add(event.channel, math.floor(t), CounterIndex.TRANSFERS, 1)
    return True


def callbacks_pending(state: QueueState, at: int) -> int:
    """Callbacks requested at or before second ``at`` and not completed by then."""
    before = at + 1  # floor(t) <= at  <=>  t < at + 1
    pending = 0
    for callback in state.callbacks.values():
        requested_at = callback.requested_at
        if requested_at is None or requested_at >= before:
            continue
        completed_at = callback.completed_at
        if completed_at is None or completed_at >= before:
            pending += 1
    return pending


def evict_callbacks(state: QueueState, finished_before: float, lost_before: float) -> None:
    """Forget callbacks that can no longer change any KPI.

    A completed callback older than ``finished_before`` (the lateness horizon) is done (a
    request still missing then would be late). One requested before ``lost_before`` and never
    completed is presumed lost (``lost_callbacks``); a completion of it arriving after that
    still counts as completed, without a time to callback.
    """
    stale: list[str] = []
    for call_id, callback in state.callbacks.items():
        if callback.completed_at is not None:
            if callback.completed_at < finished_before:
                stale.append(call_id)
        elif callback.requested_at is not None and callback.requested_at < lost_before:
            state.lost_callbacks += 1
            stale.append(call_id)
    for call_id in stale:
        del state.callbacks[call_id]
