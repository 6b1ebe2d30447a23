"""Ticketing: backlog, SLA, inflow/outflow, first reply and reopens, per queue.

A ticket is in a queue's backlog at second ``at`` when its arrival in the queue is known (it was
created there, or moved in) at or before ``at``, it has not been moved out by ``at``, and its
status at ``at`` is unsolved (new, open, pending, on hold). A ticket known only from later events
(a reply whose ``ticket.created`` has not arrived) is kept, so the two merge when it comes, but
is not counted until then.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection
from datetime import UTC, datetime

from processors.counters import CounterIndex
from processors.events import (
    SurveyResponse,
    TicketAssigned,
    TicketClosed,
    TicketCreated,
    TicketMoved,
    TicketMovedIn,
    TicketReopened,
    TicketReplied,
    TicketSolved,
    TicketStatusChanged,
)
from processors.panes import PaneStore
from processors.settings import QueueSettings
from processors.snapshot import LiveKpis
from processors.state import QueueState, Ticket

__all__ = [
    "UNSOLVED",
    "TicketEvent",
    "apply_survey",
    "apply_ticket_event",
    "backlog",
    "evict_tickets",
    "in_backlog_after_all_changes",
    "ticket_gauges",
]

UNSOLVED = frozenset({"new", "open", "pending", "hold"})
AGE_BUCKETS = (("lt_24h", 86400.0), ("24h_48h", 172800.0), ("gt_48h", math.inf))
"""Backlog age buckets: label, upper bound (exclusive) of the age in seconds."""
_DAY, _TWO_DAYS = AGE_BUCKETS[0][1], AGE_BUCKETS[1][1]

TicketEvent = (
    TicketCreated
    | TicketAssigned
    | TicketReplied
    | TicketStatusChanged
    | TicketSolved
    | TicketReopened
    | TicketClosed
    | TicketMoved
    | TicketMovedIn
)


def _ticket(state: QueueState, ticket_id: str, t: float) -> Ticket:
    ticket = state.tickets.get(ticket_id)
    if ticket is None:
        ticket = state.tickets[ticket_id] = Ticket(first_seen=t)
    elif t < ticket.first_seen:
        ticket.first_seen = t
    return ticket


def _add_status(ticket: Ticket, t: float, status: str) -> bool:
    entry = (t, status)
    statuses = ticket.statuses
    index = bisect.bisect_left(statuses, entry)
    if index < len(statuses) and statuses[index] == entry:
        return False
    # A ticket has a handful of status changes at most: a new tuple each time is cheap, and a
    # ticket with none shares the empty tuple (processors/state.py).
    ticket.statuses = (*statuses[:index], entry, *statuses[index:])
    return True


def _recount_first_reply(panes: PaneStore, ticket: Ticket) -> None:
    """Make the panes hold exactly this ticket's first reply, counted at its time."""
    desired = None
    if not ticket.inherited_reply and ticket.created_at is not None:
        desired = ticket.first_reply_at
    counted = ticket.first_reply_counted
    if counted == desired:
        return
    if counted is not None:
        assert ticket.created_at is not None
        panes.add(math.floor(counted), CounterIndex.FIRST_REPLIES, -1)
        panes.add(
            math.floor(counted),
            CounterIndex.FIRST_REPLY_SUM,
            -max(0.0, counted - ticket.created_at),
        )
    if desired is not None:
        assert ticket.created_at is not None
        panes.add(math.floor(desired), CounterIndex.FIRST_REPLIES, 1)
        panes.add(
            math.floor(desired), CounterIndex.FIRST_REPLY_SUM, max(0.0, desired - ticket.created_at)
        )
    ticket.first_reply_counted = desired


def _moved_in_event(moved: TicketMoved, ticket: Ticket, t: float) -> TicketMovedIn:
    status = _status_before(ticket, math.nextafter(t, math.inf))
    return TicketMovedIn(
        id=f"{moved.id}:in",
        time=moved.time,
        queue=moved.to_queue,
        ticket_id=moved.ticket_id,
        from_queue=moved.queue,
        created_at=_dt(ticket.created_at),
        priority=ticket.priority,  # type: ignore[arg-type]
        due_at=_dt(ticket.due_at),
        customer=ticket.customer,
        first_reply_at=_dt(ticket.first_reply_at),
        status=status if status is not None else "open",  # type: ignore[arg-type]
    )


def _dt(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t is not None else None


def apply_ticket_event(
    state: QueueState, panes: PaneStore, event: TicketEvent, t: float
) -> tuple[bool, TicketMovedIn | None]:
    """Apply one ticket event; returns (carried a new fact, event to forward to another queue)."""
    second = math.floor(t)
    ticket = _ticket(state, event.ticket_id, t)
    if isinstance(event, TicketCreated):
        if ticket.created_at is not None:
            return False, None
        ticket.created_at = t
        ticket.priority = event.priority
        ticket.due_at = event.due_at.timestamp() if event.due_at is not None else None
        ticket.customer = event.customer
        panes.add(second, CounterIndex.TICKETS_CREATED, 1)
        _recount_first_reply(panes, ticket)
        return True, None
    if isinstance(event, TicketReplied):
        if event.author != "agent" or not event.public:
            return True, None
        if ticket.first_reply_at is not None and ticket.first_reply_at <= t:
            return False, None
        if ticket.inherited_reply:
            return False, None
        ticket.first_reply_at = t
        _recount_first_reply(panes, ticket)
        return True, None
    if isinstance(event, TicketStatusChanged):
        return _add_status(ticket, t, event.status), None
    if isinstance(event, TicketSolved):
        if not _add_status(ticket, t, "solved"):
            return False, None
        panes.add(second, CounterIndex.TICKETS_SOLVED, 1)
        return True, None
    if isinstance(event, TicketReopened):
        if not _add_status(ticket, t, "open"):
            return False, None
        panes.add(second, CounterIndex.TICKETS_REOPENED, 1)
        return True, None
    if isinstance(event, TicketClosed):
        return _add_status(ticket, t, "closed"), None
    if isinstance(event, TicketMoved):
        if event.to_queue == event.queue or ticket.left_at is not None:
            return False, None
        ticket.left_at = t
        return True, _moved_in_event(event, ticket, t)
    if isinstance(event, TicketMovedIn):
        if ticket.arrived_at is not None and ticket.left_at is None:
            return False, None
        ticket.left_at = None
        ticket.arrived_at = t
        if ticket.created_at is None and event.created_at is not None:
            ticket.created_at = event.created_at.timestamp()
        ticket.priority = event.priority
        if ticket.due_at is None and event.due_at is not None:
            ticket.due_at = event.due_at.timestamp()
        ticket.customer = ticket.customer or event.customer
        if event.first_reply_at is not None:
            ticket.inherited_reply = True
            ticket.first_reply_at = event.first_reply_at.timestamp()
        _add_status(ticket, t, event.status)
        _recount_first_reply(panes, ticket)
        return True, None
    # TicketAssigned: no KPI of its own; the record exists so later facts merge into it.
    return True, None


def apply_survey(panes: PaneStore, event: SurveyResponse, t: float) -> bool:
    second = math.floor(t)
    if event.csat is not None:
        panes.add(second, CounterIndex.CSAT_RESPONSES, 1)
        if event.csat >= 4:
            panes.add(second, CounterIndex.CSAT_GOOD, 1)
    if event.nps is not None:
        panes.add(second, CounterIndex.NPS_RESPONSES, 1)
        if event.nps >= 9:
            panes.add(second, CounterIndex.NPS_PROMOTERS, 1)
        elif event.nps <= 6:
            panes.add(second, CounterIndex.NPS_DETRACTORS, 1)
    if event.ces is not None:
        panes.add(second, CounterIndex.CES_RESPONSES, 1)
        panes.add(second, CounterIndex.CES_SUM, event.ces)
    return True


def _status_before(ticket: Ticket, end: float) -> str | None:
    """Status after every change strictly before instant ``end``."""
    statuses = ticket.statuses
    if statuses and statuses[-1][0] < end:
        return statuses[-1][1]  # every change is before ``end``: the usual case, no search
    index = bisect.bisect_left(statuses, (end, ""))
    if index:
        return statuses[index - 1][1]
    return "new" if ticket.created_at is not None else None


def _arrival(ticket: Ticket) -> float | None:
    """When the ticket arrived in the queue: moved in, else created (None: neither known)."""
    return ticket.arrived_at if ticket.arrived_at is not None else ticket.created_at


def _in_backlog(ticket: Ticket, at: int) -> bool:
    arrived = _arrival(ticket)
    if arrived is None or math.floor(arrived) > at:
        return False
    if ticket.left_at is not None and math.floor(ticket.left_at) <= at:
        return False
    status = _status_before(ticket, float(at + 1))  # every change in second `at` included
    return status is None or status in UNSOLVED


def in_backlog_after_all_changes(ticket: Ticket) -> bool:
    """In the backlog at any second at or after its last change: :func:`_in_backlog` for an
    ``at`` no change of the ticket is later than (the engine's live snapshots)."""
    if _arrival(ticket) is None or ticket.left_at is not None:
        return False
    return not ticket.statuses or ticket.statuses[-1][1] in UNSOLVED


def backlog(state: QueueState, at: int, open_ids: Collection[str] | None = None) -> list[Ticket]:
    """The tickets in the backlog at second ``at`` (``open_ids``: see :func:`ticket_gauges`)."""
    tickets = state.tickets
    family_watermark = state.watermarks.get("ticketing")
    if open_ids is not None and (family_watermark is None or math.floor(family_watermark) <= at):
        # Every change of the queue's own tickets is at or before ``at``, but a ticket moved in
        # moves no watermark (processors/engine.py): one that arrived after ``at`` is left out.
        end = at + 1
        found = []
        for ticket_id in open_ids:
            ticket = tickets.get(ticket_id)
            if ticket is None:
                continue
            arrived = _arrival(ticket)
            if arrived is not None and arrived < end:
                found.append(ticket)
        return found
    return [ticket for ticket in tickets.values() if _in_backlog(ticket, at)]


def ticket_gauges(
    state: QueueState,
    at: int,
    settings: QueueSettings,
    live: LiveKpis,
    open_ids: Collection[str] | None = None,
    backlog_tickets: list[Ticket] | None = None,
) -> None:
    """Fill the ticket fields of ``live`` for second ``at`` (``backlog_tickets``: the
    :func:`backlog` at ``at`` when the caller has it already).

    ``open_ids``: the ids of the tickets for which :func:`in_backlog_after_all_changes` holds,
    kept up to date by the caller. When every ticket change of the queue is at or before ``at``
    (the live case), those are the backlog at ``at``, and only they are read instead of every
    ticket remembered, solved ones included (a week of them by default).
    """
    if backlog_tickets is None:
        backlog_tickets = backlog(state, at, open_ids)
    by_priority: dict[str, int] = {}
    young = middle = old = 0
    oldest = 0.0
    past_sla = at_risk = 0
    risk_horizon = at + settings.at_risk_minutes * 60.0
    sla_hours = settings.sla_hours
    default_hours = sla_hours.get("normal", 24.0)
    for ticket in backlog_tickets:
        priority = ticket.priority
        by_priority[priority] = by_priority.get(priority, 0) + 1
        created_at = ticket.created_at
        origin = created_at if created_at is not None else ticket.arrived_at
        assert origin is not None
        age = float(at - math.floor(origin))
        if age > oldest:
            oldest = age
        if age < _DAY:
            young += 1
        elif age < _TWO_DAYS:
            middle += 1
        else:
            old += 1
        due = ticket.due_at
        if due is None and created_at is not None:
            due = created_at + sla_hours.get(priority, default_hours) * 3600.0
        if due is not None:
            if due <= at:
                past_sla += 1
            elif due <= risk_horizon:
                at_risk += 1
    live.backlog = young + middle + old
    live.backlog_by_priority = by_priority
    live.backlog_by_age = {"lt_24h": young, "24h_48h": middle, "gt_48h": old}
    live.oldest_ticket_age_seconds = oldest
    live.tickets_past_sla = past_sla
    live.tickets_at_risk = at_risk


def evict_tickets(state: QueueState, horizon: float, closed_before: float) -> None:
    """Forget tickets that can no longer change a KPI.

    Moved-out tickets older than the lateness ``horizon``; solved or closed tickets whose last
    change is older than ``closed_before``, and tickets of unknown origin first seen before it.
    The latter are kept that long, not just for the lateness horizon: they are usually waiting
    for a forwarded ``ticket.moved_in``, which is exempt from lateness and can come back from
    Kafka after the new queue's own later events (a worker catching up on a backlog).
    """
    stale: list[str] = []
    for ticket_id, ticket in state.tickets.items():
        left_at = ticket.left_at
        if left_at is not None and left_at < horizon:
            stale.append(ticket_id)
        elif ticket.created_at is None and ticket.arrived_at is None:
            if ticket.first_seen < closed_before:
                stale.append(ticket_id)
        else:
            statuses = ticket.statuses
            if statuses:
                last_at, last = statuses[-1]
                if last_at < closed_before and last not in UNSOLVED:
                    stale.append(ticket_id)
    for ticket_id in stale:
        del state.tickets[ticket_id]
