"""Self-service (IVR): calls served by a flow without an agent, and the ones it passes on.

Definitions (docs/kpis.md, Self-service): a pass through a flow starts at ``ivr.entered`` and
ends at ``ivr.exited`` with its outcome. Its *time in the flow* is the source's own
``ivr_seconds`` when the exit carries one, else exit time - entry time. Entries are counted at
entry; an exit (its outcome and its time) at the exit's second, once its time is known: an exit
that arrives before its entry, without ``ivr_seconds``, waits for the entry, as a queue exit does
(processors/calls.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from processors.calls import evict_visits
from processors.counters import CounterIndex
from processors.events import IvrEntered, IvrExited
from processors.open_visits import OpenVisits
from processors.panes import PaneStore
from processors.settings import QueueSettings
from processors.state import IvrVisit, QueueState

__all__ = ["IvrHandler", "evict_ivr", "ivr_active", "on_ivr_entered", "on_ivr_exited"]

_OUTCOME_COUNTER = {
    "self_served": CounterIndex.IVR_SELF_SERVED,
    "to_queue": CounterIndex.IVR_TO_QUEUE,
    "abandoned": CounterIndex.IVR_ABANDONED,
    "error": CounterIndex.IVR_ERRORS,
}


def _count_exit(panes: PaneStore, visit: IvrVisit) -> None:
    assert visit.exit_at is not None and visit.outcome is not None
    if visit.reported_seconds is not None:
        seconds = visit.reported_seconds
    else:
        assert visit.entered_at is not None
        seconds = max(0.0, visit.exit_at - visit.entered_at)
    second = math.floor(visit.exit_at)
    panes.add(second, _OUTCOME_COUNTER[visit.outcome], 1)
    panes.add(second, CounterIndex.IVR_TIME_SUM, seconds)
    visit.counted = True


def _start_earlier(panes: PaneStore, visit: IvrVisit, t: float) -> None:
    """An earlier entry of a pass arrived after a later one (out of order): the pass is one,
    timed from its first entry (docs/kpis.md, one pass per call and key), so its entry count
    and, when it was timed by the entry, its time in the flow move to the earlier entry."""
    old = visit.entered_at
    assert old is not None
    panes.add(math.floor(old), CounterIndex.IVR_ENTERED, -1)
    panes.add(math.floor(t), CounterIndex.IVR_ENTERED, 1)
    visit.entered_at = t
    if visit.counted and visit.reported_seconds is None:
        assert visit.exit_at is not None
        longer = max(0.0, visit.exit_at - t) - max(0.0, visit.exit_at - old)
        panes.add(math.floor(visit.exit_at), CounterIndex.IVR_TIME_SUM, longer)


IvrHandler = Callable[[QueueState, PaneStore, Any, float, QueueSettings], bool]
"""A self-service handler: it adds to the queue's panes (IVR passes have no channel)."""


def on_ivr_entered(
    state: QueueState, panes: PaneStore, event: IvrEntered, t: float, settings: QueueSettings
) -> bool:
    visit = state.ivr.get(event.call_id)
    if visit is None:
        visit = state.ivr[event.call_id] = IvrVisit(entered_at=t)
    elif visit.entered_at is None:
        visit.entered_at = t
    elif t < visit.entered_at:
        _start_earlier(panes, visit, t)
        return True
    else:
        return False  # a later entry of the same pass: going round the flow again
    panes.add(math.floor(t), CounterIndex.IVR_ENTERED, 1)
    if visit.outcome is not None and not visit.counted:
        _count_exit(panes, visit)
    return True


def on_ivr_exited(
    state: QueueState, panes: PaneStore, event: IvrExited, t: float, settings: QueueSettings
) -> bool:
    visit = state.ivr.get(event.call_id)
    if visit is None:
        visit = state.ivr[event.call_id] = IvrVisit()
    elif visit.outcome is not None:
        return False  # the pass already ended; a second exit is not a new fact
    visit.outcome = event.outcome
    visit.exit_at = t
    visit.reported_seconds = event.ivr_seconds
    if visit.reported_seconds is not None or visit.entered_at is not None:
        _count_exit(panes, visit)
    return True


def ivr_active(state: QueueState, at: int, open_passes: OpenVisits | None = None) -> int:
    """Calls in a flow at second ``at``: entered at or before it, not left by then;
    ``open_passes``: the passes that may still be open (processors/open_visits.py)."""
    before = at + 1  # floor(t) <= at  <=>  t < at + 1
    active = 0
    visits = state.ivr
    for visit in visits.values() if open_passes is None else open_passes.visits(visits, before):
        exit_at = visit.exit_at
        if exit_at is not None and exit_at < before:
            continue
        entered_at = visit.entered_at
        if entered_at is not None and entered_at < before:
            active += 1
    return active


def evict_ivr(state: QueueState, finished_before: float, lost_before: float) -> None:
    """Forget passes that can no longer change any KPI, as queue visits are forgotten."""
    evict_visits(state, state.ivr, finished_before, lost_before)
