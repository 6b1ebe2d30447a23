"""Ticket SLAs as help desks define them: first reply and resolution targets per priority,
counted in the business hours of the queue's calendar, paused while the ticket waits on the
customer, at risk once a share of the target has elapsed (docs/kpis.md#business-hours-ticket-slas).

A ticket's *SLA clock* at instant ``at`` is the working time (processors/calendars.py; around the
clock without a calendar) between its creation and ``at``, less the time its status was one of
the queue's ``paused_statuses``. The clock depends on the instant asked for only, so these are
live gauges, computed for the backlog at each snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from processors.calendars import BusinessClock
from processors.settings import QueueSettings
from processors.snapshot import LiveKpis
from processors.state import Ticket

__all__ = ["sla_clock", "ticket_sla_gauges"]


def _working(clock: BusinessClock | None, start: float, end: float) -> float:
    if end <= start:
        return 0.0
    return end - start if clock is None else clock.seconds(start, end)


def sla_clock(
    ticket: Ticket, at: float, paused: frozenset[str], clock: BusinessClock | None
) -> float:
    """Seconds of the ticket's SLA clock from its creation (or arrival, if its creation is not
    known) to instant ``at``. Before its first known status change a ticket is ``new``."""
    origin = ticket.created_at if ticket.created_at is not None else ticket.arrived_at
    if origin is None or at <= origin:
        return 0.0
    elapsed = 0.0
    running_since: float | None = None if "new" in paused else origin
    for changed_at, status in ticket.statuses:
        if changed_at >= at:
            break
        changed_at = max(changed_at, origin)
        if status in paused:
            if running_since is not None:
                elapsed += _working(clock, running_since, changed_at)
                running_since = None
        elif running_since is None:
            running_since = changed_at
    if running_since is not None:
        elapsed += _working(clock, running_since, at)
    return elapsed


def ticket_sla_gauges(
    backlog: Iterable[Ticket],
    at: int,
    settings: QueueSettings,
    clock: BusinessClock | None,
    live: LiveKpis,
) -> None:
    """Fill the business-hours SLA gauges of ``live`` from the tickets in the backlog at ``at``.

    First reply: backlog tickets without a first public agent reply in a second <= ``at``.
    Resolution: every backlog ticket; a ticket's own ``due_at`` replaces the resolution target
    (an instant: wall-clock time, no calendar, no pause)."""
    paused = frozenset(settings.paused_statuses)
    ratio = settings.sla_warning_ratio
    reply_targets = settings.first_reply_hours
    resolve_targets = settings.sla_hours
    reply_breached = reply_risk = resolve_breached = resolve_risk = 0
    for ticket in backlog:
        elapsed: float | None = None
        replied = ticket.first_reply_at is not None and math.floor(ticket.first_reply_at) <= at
        reply_hours = reply_targets.get(ticket.priority, reply_targets.get("normal"))
        if not replied and reply_hours is not None:
            elapsed = sla_clock(ticket, at, paused, clock)
            target = reply_hours * 3600.0
            if elapsed >= target:
                reply_breached += 1
            elif elapsed >= ratio * target:
                reply_risk += 1
        if ticket.due_at is not None:
            origin = ticket.created_at if ticket.created_at is not None else ticket.arrived_at
            assert origin is not None
            if ticket.due_at <= at:
                resolve_breached += 1
            elif at - origin >= ratio * (ticket.due_at - origin):
                resolve_risk += 1
            continue
        resolve_hours = resolve_targets.get(ticket.priority, resolve_targets.get("normal"))
        if resolve_hours is None:
            continue
        if elapsed is None:
            elapsed = sla_clock(ticket, at, paused, clock)
        target = resolve_hours * 3600.0
        if elapsed >= target:
            resolve_breached += 1
        elif elapsed >= ratio * target:
            resolve_risk += 1
    live.first_reply_sla_breached = reply_breached
    live.first_reply_sla_at_risk = reply_risk
    live.resolution_sla_breached = resolve_breached
    live.resolution_sla_at_risk = resolve_risk
