"""A plain batch recomputation of every KPI, straight from docs/kpis.md.

Deliberately naive and independent of processors/: de-duplicate by id, then loop over all the
events for each question. No panes, no state, no incremental updates. The property tests check
that the streaming engine gives exactly these numbers whatever the arrival order.

Assumes what the property generator guarantees: no event is late, each call has at most one
entry and one exit (a callback request and a transfer while queued are exits; of two requests
for a call, the first in time is the exit and the callback's start), at most one callback completion, a ticket is moved only while unsolved with nothing but its creation in the
old queue, and events of a moved ticket after the move name its new queue.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from processors.calendars import local_midnight
from processors.events import (
    CONTACT_TYPES,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallBlocked,
    CallCallbackAttempted,
    CallCallbackCompleted,
    CallCallbackRequested,
    CallEnded,
    CallEntered,
    CallExited,
    CallTransferred,
    Event,
    IvrEntered,
    IvrExited,
    SurveyResponse,
    TicketClosed,
    TicketCreated,
    TicketMoved,
    TicketReopened,
    TicketReplied,
    TicketSolved,
    TicketStatusChanged,
)
from processors.settings import WEEKDAYS, Calendar, EngineSettings, QueueSettings, parse_window


def sec(event: Event) -> int:
    return math.floor(event.time.timestamp())


def ts(event: Event) -> float:
    return event.time.timestamp()


def div(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def reference(
    events: list[Event], at: int, window: str, settings: EngineSettings
) -> dict[str, Any]:
    """{queue: {**live fields, **window fields}} at ``at`` over ``window``."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    known = [e for e in unique.values() if ts(e) < at + 1]
    queues = sorted(
        {e.queue for e in known} | {e.to_queue for e in known if isinstance(e, TicketMoved)}
    )
    named: dict[str, set[str]] = defaultdict(set)
    for e in unique.values():
        if isinstance(e, CONTACT_EVENTS):
            named[e.queue].add(e.channel)
    return {q: _queue(q, known, at, window, settings, named[q]) for q in queues}


def _first(queue: str, at: int, window: str, settings: EngineSettings) -> int:
    length = parse_window(window)
    if length is None:
        return local_midnight(at, settings.for_queue(queue).timezone)
    return at - length + 1


def _queue(
    queue: str,
    events: list[Event],
    at: int,
    window: str,
    settings: EngineSettings,
    channels: set[str],
) -> dict[str, Any]:
    qs = settings.for_queue(queue)
    first = _first(queue, at, window, settings)
    mine = [e for e in events if e.queue == queue]
    inside = [e for e in mine if first <= sec(e) <= at]
    out: dict[str, Any] = {}

    # --- telephony
    entries = {e.call_id: e for e in mine if isinstance(e, CallEntered)}
    exits = _exits(mine)
    contact = _contacts(mine, inside, first, at, qs, None)
    out.update(contact)
    # Every channel the queue's contact events name (also events after ``at``), whether or not
    # the engine splits them: the property tests compare the channels the engine reports
    # (tests/test_kpi_properties.py).
    out["channels"] = {c: _contacts(mine, inside, first, at, qs, c) for c in sorted(channels)}
    waiting = [
        sec(entry)
        for call_id, entry in entries.items()
        if sec(entry) <= at and (call_id not in exits or sec(exits[call_id]) > at)
    ]
    out["calls_waiting"] = len(waiting)
    out.update(_callbacks(mine, inside, first, at))
    out.update(_ivr(mine, inside, first, at))
    out["oldest_wait_seconds"] = float(at - min(waiting)) if waiting else 0.0

    # --- agents
    timelines: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for e in mine:
        if isinstance(e, AgentStateChanged):
            timelines[e.agent].append((ts(e), e.state))
    counts: dict[str, int] = {}
    busy = available = 0.0
    for timeline in timelines.values():
        timeline.sort()
        current = [s for t, s in timeline if t < at + 1]
        if current and current[-1] != "logged_out":
            counts[current[-1]] = counts.get(current[-1], 0) + 1
        for i, (t, state) in enumerate(timeline):
            end = timeline[i + 1][0] if i + 1 < len(timeline) else at + 1
            overlap = min(end, at + 1) - max(t, first)
            if overlap > 0 and state == "available":
                available += overlap
            elif overlap > 0 and state in ("on_call", "wrap_up"):
                busy += overlap
    out["agents"] = counts
    out["agents_staffed"] = sum(counts.values())
    out["occupancy"] = div(busy, busy + available)

    # --- tickets
    calendar = settings.calendars[qs.calendar] if qs.calendar is not None else None
    out.update(_tickets(queue, events, at, first, qs, calendar))

    # --- surveys
    surveys = [e for e in inside if isinstance(e, SurveyResponse)]
    csat = [e.csat for e in surveys if e.csat is not None]
    nps = [e.nps for e in surveys if e.nps is not None]
    ces = [e.ces for e in surveys if e.ces is not None]
    promoters = sum(1 for n in nps if n >= 9)
    detractors = sum(1 for n in nps if n <= 6)
    nps_value = div(promoters - detractors, len(nps))
    out.update(
        csat_responses=len(csat),
        csat=div(sum(1 for c in csat if c >= 4), len(csat)),
        nps_responses=len(nps),
        nps=None if nps_value is None else 100 * nps_value,
        ces_responses=len(ces),
        ces=div(sum(ces), len(ces)),
    )

    # --- first-contact resolution
    window_fcr = qs.fcr_window_hours * 3600.0
    by_customer: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for e in mine:
        if isinstance(e, CallEntered | TicketCreated) and e.customer is not None:
            by_customer[e.customer].append((ts(e), e.id))
    contacts = repeats = 0
    for history in by_customer.values():
        history.sort()
        for i, (t, _) in enumerate(history):
            if not first <= math.floor(t) <= at:
                continue
            contacts += 1
            if i > 0 and t - history[i - 1][0] <= window_fcr:
                repeats += 1
    out.update(contacts=contacts, repeat_contacts=repeats, fcr=div(contacts - repeats, contacts))
    return out


CONTACT_EVENTS = CONTACT_TYPES
"""The events that name a channel (docs/kpis.md#channels)."""


def _exits(mine: list[Event]) -> dict[str, Event]:
    """Each call's exit: its first in time. A second callback request of a call is no second
    exit; of two at the same instant, the one reporting a wait is the exit's, and if both or
    neither do, the one whose channel sorts first."""
    exits: dict[str, Event] = {}

    def first(e: Event) -> tuple[float, bool, str]:
        request = isinstance(e, CallCallbackRequested)
        return ts(e), request and e.wait_seconds is None, e.channel if request else ""

    for e in sorted(mine, key=first):
        if isinstance(e, CallAnswered | CallAbandoned | CallExited | CallCallbackRequested) or (
            isinstance(e, CallTransferred) and e.while_queued
        ):
            exits.setdefault(e.call_id, e)
    return exits


def _contacts(
    mine: list[Event],
    inside: list[Event],
    first: int,
    at: int,
    qs: QueueSettings,
    channel: str | None,
) -> dict[str, Any]:
    """The contact KPIs over the window: of every channel (``channel`` None), or of the events
    that name ``channel`` only (each event counts in its own channel: an exit in the exit's, its
    wait from its entry whatever the entry's channel, within T by the exit channel's T)."""

    def mine_too(event: Event) -> bool:
        return channel is None or getattr(event, "channel", None) == channel

    entries = {e.call_id: e for e in mine if isinstance(e, CallEntered)}
    answered = abandoned = short = other = a_t = b_t = callbacks = flow_outs = 0
    answered_wait = abandoned_wait = other_wait = own_kind_wait = 0.0
    for call_id, exit_event in _exits(mine).items():
        if not first <= sec(exit_event) <= at or not mine_too(exit_event):
            continue
        if exit_event.wait_seconds is not None:
            wait = exit_event.wait_seconds
        elif call_id in entries:
            wait = max(0.0, ts(exit_event) - ts(entries[call_id]))
        else:
            continue  # the exit's wait is unknown until its entry arrives
        threshold = qs.sl_threshold_by_channel.get(exit_event.channel, qs.sl_threshold_seconds)
        if isinstance(exit_event, CallAnswered):
            answered += 1
            answered_wait += wait
            a_t += wait <= threshold
        elif isinstance(exit_event, CallAbandoned):
            if wait < qs.short_abandon_seconds:
                short += 1
            else:
                abandoned += 1
                abandoned_wait += wait
                b_t += wait <= threshold
        elif isinstance(exit_event, CallCallbackRequested):
            callbacks += 1
            own_kind_wait += wait
        elif isinstance(exit_event, CallTransferred):
            flow_outs += 1
            own_kind_wait += wait
        else:
            other += 1
            other_wait += wait
    counted = [e for e in inside if mine_too(e)]
    entered = sum(1 for e in counted if isinstance(e, CallEntered))
    blocked = sum(1 for e in counted if isinstance(e, CallBlocked))
    exits_n = answered + abandoned + other
    exits_n += callbacks if qs.sl_callbacks == "against" else 0
    exits_n += flow_outs if qs.sl_flow_outs == "against" else 0
    variants = {
        "answered": div(a_t, answered),
        "offered": div(a_t, exits_n),
        "ignore_abandons": div(a_t, exits_n - b_t),
        "abandons_positive": div(a_t + b_t, exits_n),
    }
    ended = [e for e in counted if isinstance(e, CallEnded)]
    transfers = sum(1 for e in counted if isinstance(e, CallTransferred) and not e.while_queued)
    return {
        "entered": entered,
        "offered": entered,
        "blocked": blocked,
        "blocked_rate": div(blocked, blocked + entered),
        "answered": answered,
        "abandoned": abandoned,
        "short_abandoned": short,
        "other_exits": other,
        "answered_within_threshold": a_t,
        "abandoned_within_threshold": b_t,
        "abandon_rate": div(abandoned, exits_n),
        "asa_seconds": div(answered_wait, answered),
        "avg_abandon_seconds": div(abandoned_wait, abandoned),
        "patience_seconds": div(
            answered_wait + abandoned_wait + other_wait + own_kind_wait, abandoned
        ),
        "service_level": variants[qs.sl_variant],
        "service_level_answered": variants["answered"],
        "service_level_offered": variants["offered"],
        "service_level_ignore_abandons": variants["ignore_abandons"],
        "service_level_abandons_positive": variants["abandons_positive"],
        "callbacks_requested": callbacks,
        "flow_outs": flow_outs,
        "transfers": transfers,
        "transfer_rate": div(transfers, answered),
        "handled": len(ended),
        "aht_seconds": div(
            sum(e.talk_seconds + e.hold_seconds + e.wrapup_seconds for e in ended), len(ended)
        ),
    }


def _callbacks(
    mine: list[Event],
    inside: list[Event],
    first: int,
    at: int,
) -> dict[str, Any]:
    """Callbacks after their request (docs/kpis.md): the first request and the first completion
    of each call id are the callback's."""
    requests: dict[str, CallCallbackRequested] = {}
    completions: dict[str, CallCallbackCompleted] = {}
    for e in sorted(mine, key=ts):
        if isinstance(e, CallCallbackRequested):
            requests.setdefault(e.call_id, e)
        elif isinstance(e, CallCallbackCompleted):
            completions.setdefault(e.call_id, e)
    pending = sum(
        1
        for call_id, request in requests.items()
        if sec(request) <= at and (call_id not in completions or sec(completions[call_id]) > at)
    )
    done = [c for c in completions.values() if first <= sec(c) <= at]
    succeeded = [c for c in done if c.success]
    timed = [ts(c) - ts(requests[c.call_id]) for c in succeeded if c.call_id in requests]
    return {
        "callback_attempts": sum(1 for e in inside if isinstance(e, CallCallbackAttempted)),
        "callbacks_completed": len(done),
        "callbacks_succeeded": len(succeeded),
        "callback_success_rate": div(len(succeeded), len(done)),
        "time_to_callback_seconds": div(sum(max(0.0, x) for x in timed), len(timed)),
        "callbacks_pending": pending,
    }


def _ivr(mine: list[Event], inside: list[Event], first: int, at: int) -> dict[str, Any]:
    """Self-service: each pass's exit counted in its second once its time is known (reported,
    or exit - entry); one pass per call, from its first entry (going round the flow again is
    no new pass)."""
    entries: dict[str, IvrEntered] = {}
    for e in sorted(mine, key=ts):
        if isinstance(e, IvrEntered):
            entries.setdefault(e.call_id, e)
    exits = {e.call_id: e for e in mine if isinstance(e, IvrExited)}
    outcomes = {"self_served": 0, "to_queue": 0, "abandoned": 0, "error": 0}
    total = 0.0
    for call_id, exit_event in exits.items():
        if not first <= sec(exit_event) <= at:
            continue
        if exit_event.ivr_seconds is not None:
            seconds = exit_event.ivr_seconds
        elif call_id in entries:
            seconds = max(0.0, ts(exit_event) - ts(entries[call_id]))
        else:
            continue
        outcomes[exit_event.outcome] += 1
        total += seconds
    ended = sum(outcomes.values())
    active = sum(
        1
        for call_id, entry in entries.items()
        if sec(entry) <= at and (call_id not in exits or sec(exits[call_id]) > at)
    )
    return {
        "ivr_entered": sum(1 for e in entries.values() if first <= sec(e) <= at),
        "ivr_self_served": outcomes["self_served"],
        "ivr_to_queue": outcomes["to_queue"],
        "ivr_abandoned": outcomes["abandoned"],
        "ivr_errors": outcomes["error"],
        "ivr_containment_rate": div(
            outcomes["self_served"], outcomes["self_served"] + outcomes["to_queue"]
        ),
        "ivr_abandon_rate": div(outcomes["abandoned"], ended),
        "ivr_seconds": div(total, ended),
        "ivr_active": active,
    }


UNSOLVED = {"new", "open", "pending", "hold"}
_MINUTES: dict[tuple[int, int], bool] = {}


def _working_minute(calendar: Calendar, minute: int) -> bool:
    """Is the UTC minute ``minute`` working time? Its local wall-clock time, read in the zone,
    within a range of its local weekday, on a day that is not a holiday. Every range boundary
    is a whole local minute, and zones' offsets are whole minutes, so a minute is all in or out.
    """
    key = (id(calendar), minute)
    found = _MINUTES.get(key)
    if found is None:
        local = datetime.fromtimestamp(minute * 60, UTC).astimezone(ZoneInfo(calendar.timezone))
        hm = local.hour * 60 + local.minute
        found = local.date().isoformat() not in calendar.holidays and any(
            int(r[0:2]) * 60 + int(r[3:5]) <= hm < int(r[6:8]) * 60 + int(r[9:11])
            for r in calendar.hours.get(WEEKDAYS[local.weekday()], [])
        )
        _MINUTES[key] = found
    return found


def _working(calendar: Calendar | None, a: float, b: float) -> float:
    if b <= a:
        return 0.0
    if calendar is None:
        return b - a
    total = 0.0
    for minute in range(math.floor(a / 60), math.ceil(b / 60)):
        if _working_minute(calendar, minute):
            total += min(b, minute * 60 + 60) - max(a, minute * 60)
    return total


def _sla_clock(
    created: float,
    statuses: list[tuple[float, str | None]],
    at: int,
    paused: set[str],
    calendar: Calendar | None,
) -> float:
    """Working time from creation to instant ``at`` while the status is not paused (``new``
    until the first change)."""
    cuts = sorted({created, float(at), *(t for t, _ in statuses if created < t < at)})
    total = 0.0
    for start, end in itertools.pairwise(cuts):
        before = [s for t, s in statuses if t <= start]
        status = before[-1] if before else "new"
        if status not in paused:
            total += _working(calendar, start, end)
    return total


def _tickets(
    queue: str, events: list[Event], at: int, first: int, qs: Any, calendar: Calendar | None
) -> dict[str, Any]:
    by_ticket: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        ticket_id = getattr(e, "ticket_id", None)
        if ticket_id is not None and not isinstance(e, SurveyResponse):
            by_ticket[ticket_id].append(e)
    backlog = past = risk = 0
    by_priority: dict[str, int] = {}
    by_age = {"lt_24h": 0, "24h_48h": 0, "gt_48h": 0}
    oldest = 0.0
    created_n = solved_n = reopened_n = replies_n = 0
    reply_breached = reply_risk = resolve_breached = resolve_risk = 0
    reply_sum = 0.0
    for ticket_events in by_ticket.values():
        ticket_events.sort(key=lambda e: (ts(e), e.id))
        created = next((e for e in ticket_events if isinstance(e, TicketCreated)), None)
        # Where the ticket is at a given second: its creation queue, then each move in turn.
        moves = [e for e in ticket_events if isinstance(e, TicketMoved)]

        def queue_at(
            second: int, created: TicketCreated | None = created, moves: list[TicketMoved] = moves
        ) -> str | None:
            if created is None or sec(created) > second:
                return None
            where = created.queue
            for move in moves:
                if sec(move) <= second:
                    where = move.to_queue
            return where

        for e in ticket_events:
            if e.queue != queue or not first <= sec(e) <= at:
                continue
            created_n += isinstance(e, TicketCreated)
            solved_n += isinstance(e, TicketSolved)
            reopened_n += isinstance(e, TicketReopened)
        replies = [
            e
            for e in ticket_events
            if isinstance(e, TicketReplied) and e.author == "agent" and e.public
        ]
        if replies and created is not None:
            reply = replies[0]
            if reply.queue == queue and first <= sec(reply) <= at:
                replies_n += 1
                reply_sum += max(0.0, ts(reply) - ts(created))
        if created is None or queue_at(at) != queue:
            continue
        statuses = [
            (
                ts(e),
                {TicketSolved: "solved", TicketReopened: "open", TicketClosed: "closed"}.get(
                    type(e), getattr(e, "status", None)
                ),
            )
            for e in ticket_events
            if isinstance(e, TicketStatusChanged | TicketSolved | TicketReopened | TicketClosed)
        ]
        statuses.sort()
        current = [s for t, s in statuses if t < at + 1]
        status = current[-1] if current else "new"
        if status not in UNSOLVED:
            continue
        backlog += 1
        clock = _sla_clock(ts(created), statuses, at, set(qs.paused_statuses), calendar)
        ratio = qs.sla_warning_ratio
        reply_hours = qs.first_reply_hours.get(created.priority, qs.first_reply_hours.get("normal"))
        if not (replies and sec(replies[0]) <= at) and reply_hours is not None:
            reply_breached += clock >= reply_hours * 3600
            reply_risk += ratio * reply_hours * 3600 <= clock < reply_hours * 3600
        resolve_hours = qs.sla_hours.get(created.priority, qs.sla_hours.get("normal"))
        if created.due_at is not None:
            due_at = created.due_at.timestamp()
            resolve_breached += due_at <= at
            resolve_risk += due_at > at and at - ts(created) >= ratio * (due_at - ts(created))
        elif resolve_hours is not None:
            resolve_breached += clock >= resolve_hours * 3600
            resolve_risk += ratio * resolve_hours * 3600 <= clock < resolve_hours * 3600
        by_priority[created.priority] = by_priority.get(created.priority, 0) + 1
        age = float(at - sec(created))
        oldest = max(oldest, age)
        by_age["lt_24h" if age < 86400 else "24h_48h" if age < 172800 else "gt_48h"] += 1
        due = (
            created.due_at.timestamp()
            if created.due_at
            else ts(created) + qs.sla_hours[created.priority] * 3600
        )
        if due <= at:
            past += 1
        elif due <= at + qs.at_risk_minutes * 60:
            risk += 1
    return {
        "backlog": backlog,
        "backlog_by_priority": by_priority,
        "backlog_by_age": by_age,
        "oldest_ticket_age_seconds": oldest,
        "tickets_past_sla": past,
        "tickets_at_risk": risk,
        "first_reply_sla_breached": reply_breached,
        "first_reply_sla_at_risk": reply_risk,
        "resolution_sla_breached": resolve_breached,
        "resolution_sla_at_risk": resolve_risk,
        "tickets_created": created_n,
        "tickets_solved": solved_n,
        "tickets_reopened": reopened_n,
        "reopen_rate": div(reopened_n, solved_n),
        "first_replies": replies_n,
        "first_reply_seconds": div(reply_sum, replies_n),
    }
