"""Eviction: forget what no window and no on-time event of a queue can need any more.

Each family's facts (telephony, ticketing) are evicted against that family's own lateness
horizon; what both families feed (panes, FCR contacts) against the older of the two. The ids
remembered for de-duplication are bounded both ways: by age here, by count in
:func:`forget_oldest` (engine.max_remembered_ids).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

from processors.agents import evict_agents
from processors.callbacks import evict_callbacks
from processors.calls import evict_calls
from processors.contacts import evict_contacts
from processors.drilldown import evict_drilldown
from processors.ivr import evict_ivr
from processors.panes import PaneStore
from processors.settings import EngineSettings
from processors.state import QueueState
from processors.tickets import evict_tickets

__all__ = ["EVICT_EVERY_SECONDS", "SLOW_EVICT_SECONDS", "evict_queue", "forget_oldest"]

EVICT_EVERY_SECONDS = 60.0
SLOW_EVICT_SECONDS = 3600.0
"""FCR contacts and tickets are evicted once per hour of event time, not every minute: each
eviction scans every customer and every remembered ticket (a week of solved ones) of the queue,
which dominated catch-up runs (a queue is evicted after every batch there: ``make bench``).
What is kept up to an hour longer than needed is a day's or a week's worth plus an hour, and
changes no KPI (docs/kpis.md, Retention)."""


def evict_queue(
    state: QueueState,
    panes: PaneStore | None,
    channel_stores: Mapping[str, PaneStore],
    settings: EngineSettings,
    lateness: float,
    retention: tuple[float, float, float],
    history: float,
) -> None:
    """Evict ``state`` (through ``panes`` and ``channel_stores``, its runtime's pane stores, when
    it has them: processors/channels.py): second,
    minute and quarter panes older than ``retention`` behind the oldest watermark, agent
    history older than ``history``, the rest against each family's lateness horizon."""
    if not state.watermarks:
        return
    horizons = {family: mark - lateness for family, mark in state.watermarks.items()}
    oldest = min(state.watermarks.values())
    keep_from = (
        math.floor(oldest - retention[0]),
        math.floor(oldest - retention[1]),
        math.floor(oldest - retention[2]),
    )
    (panes or PaneStore(state.panes)).evict(keep_from)
    for channel, levels in state.channel_panes.items():
        (channel_stores.get(channel) or PaneStore(levels)).evict(keep_from)
    for family, seen in state.seen.items():
        # A family may have ids and no watermark: a queue whose only tickets so far were
        # moved in (a ticket.moved_in moves no watermark, processors/engine.py).
        if family in horizons:
            _evict_seen(seen, horizons[family])
    if "telephony" in state.watermarks:
        phone = state.watermarks["telephony"]
        evict_calls(state, horizons["telephony"], phone - settings.max_open_call_seconds)
        evict_ivr(state, horizons["telephony"], phone - settings.max_open_call_seconds)
        evict_agents(state, phone - history)
        evict_callbacks(state, horizons["telephony"], phone - settings.max_open_callback_seconds)
        evict_drilldown(state, horizons["telephony"])
    through = max(state.watermarks.values())
    if math.floor(through / SLOW_EVICT_SECONDS) != math.floor(
        state.evicted_through / SLOW_EVICT_SECONDS
    ):
        if "ticketing" in state.watermarks:
            kept_closed = settings.closed_ticket_retention_hours * 3600.0
            closed_before = state.watermarks["ticketing"] - kept_closed
            evict_tickets(state, horizons["ticketing"], closed_before)
        max_fcr = settings.for_queue(state.queue).fcr_window_hours * 3600.0
        evict_contacts(state, min(horizons.values()) - max_fcr)
    state.evicted_through = through


def forget_oldest(seen: dict[str, float], count: int) -> None:
    """Forget the ``count`` ids remembered first (engine.max_remembered_ids)."""
    for event_id in list(itertools.islice(seen, count)):
        del seen[event_id]


def _evict_seen(seen: dict[str, float], horizon: float) -> None:
    """Forget the ids of events older than ``horizon``: any copy of them would be late anyway.

    Ids are remembered in the order they were applied, so the old ones are at the front: the
    scan stops at the first id still needed. An older id applied after it (out of order, within
    the lateness) is forgotten by a later eviction; until then it only costs memory, since a
    copy of it is dropped as late before its id is looked up.
    """
    stale = []
    for event_id, t in seen.items():
        if t >= horizon:
            break
        stale.append(event_id)
    for event_id in stale:
        del seen[event_id]
