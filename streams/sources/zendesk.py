"""Zendesk webhooks -> canonical events.

**Ticket events** (a webhook subscribed to ``zen:event-type:ticket.*``; Zendesk's "Ticket
events" reference): a JSON object with ``type``, ``id`` (unique per event), ``time``, ``detail``
(the ticket: ``id``, ``group_id``, ``priority``, ``status``, ``requester_id``, ``created_at``,
``via.channel``...) and ``event`` (what changed). The ticket's group is the ccpulse queue
(``sources.zendesk.group_queues`` renames; a ticket without a known group goes to
``default_queue``, else ``zendesk-group-<id>``).

| type (after ``zen:event-type:``) | ccpulse event |
|---|---|
| ticket.created | ticket.created (priority, customer = requester, channel = via); created
  ``pending`` or ``hold``: and ticket.status (the paused statuses start paused) |
| ticket.status_changed | ticket.status / .solved / .closed; back from solved: .reopened |
| ticket.group_assignment_changed | ticket.moved (previous group's queue -> new) |
| ticket.agent_assignment_changed | ticket.assigned |
| ticket.comment_added | ticket.replied (agent if ``is_staff``; public = ``is_public``) |
| anything else | nothing (no KPI meaning) |

**Satisfaction** has no ticket event; a trigger ("Satisfaction changed") posts a JSON body, see
docs/sources.md: ``{"type": "ccpulse:satisfaction", "ticket_id", "group_id", "rating", "time"}``.
``rating`` is Zendesk's "good"/"bad" (counted as CSAT 5 / 1, so the CSAT share equals Zendesk's
satisfaction score) or a 1-5 score.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from processors.events import (
    Event,
    SurveyResponse,
    TicketAssigned,
    TicketClosed,
    TicketCreated,
    TicketMoved,
    TicketReopened,
    TicketReplied,
    TicketSolved,
    TicketStatusChanged,
)
from streams.sources.payloads import MappingResult, Unmappable, digest, parse_time, text
from streams.sources.settings import ZendeskSourceConfig

__all__ = ["map_zendesk"]

_PREFIX = "zen:event-type:"
_OPEN = ("new", "open", "pending", "hold")
_PRIORITIES = ("low", "normal", "high", "urgent")


def _group_id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id", value.get("name"))
    result = text(value)
    return None if result in (None, "0", "null") else result


def _queue(group: str | None, config: ZendeskSourceConfig) -> str:
    if group is not None and group in config.group_queues:
        return config.group_queues[group]
    if config.default_queue:
        return config.default_queue
    return f"zendesk-group-{group}" if group is not None else "zendesk"


def _status(value: Any) -> str | None:
    result = text(value)
    return result.lower().replace("on-hold", "hold").replace("on_hold", "hold") if result else None


def map_zendesk(payload: Mapping[str, Any], config: ZendeskSourceConfig) -> MappingResult:
    kind = text(payload.get("type"))
    if kind is None:
        return Unmappable("no type: not a Zendesk event webhook")
    if kind == "ccpulse:satisfaction":
        return _satisfaction(payload, config)
    if not kind.startswith(_PREFIX + "ticket."):
        return []
    kind = kind[len(_PREFIX) :]
    detail = payload.get("detail")
    if not isinstance(detail, Mapping) or text(detail.get("id")) is None:
        return Unmappable(f"{kind}: no detail.id (the ticket)")
    ticket = str(detail["id"])
    when = parse_time(payload.get("time")) or parse_time(detail.get("updated_at"))
    if when is None:
        return Unmappable(f"{kind}: no valid time")
    ident = "zd-" + (text(payload.get("id")) or digest(kind, ticket, when.isoformat()))
    change = payload.get("event") if isinstance(payload.get("event"), Mapping) else {}
    assert isinstance(change, Mapping)
    queue = _queue(_group_id(detail.get("group_id")), config)
    base: dict[str, Any] = {"id": ident, "time": when, "queue": queue, "ticket_id": ticket}
    if kind == "ticket.created":
        priority = (text(detail.get("priority")) or "normal").lower()
        via = detail.get("via")
        channel = text(via.get("channel")) if isinstance(via, Mapping) else None
        created = parse_time(detail.get("created_at")) or when
        opened: list[Event] = [
            TicketCreated(
                **{**base, "time": created},
                priority=priority if priority in _PRIORITIES else "normal",  # type: ignore[arg-type]
                customer=text(detail.get("requester_id")),
                channel=channel.lower() if channel else None,
            )
        ]
        status = _status(detail.get("status"))
        if status in ("pending", "hold"):  # created waiting: the SLA clocks start paused
            opened.append(
                TicketStatusChanged(
                    **{**base, "id": ident + ":status", "time": created},
                    status=status,  # type: ignore[arg-type]
                )
            )
        return opened
    if kind == "ticket.status_changed":
        current = _status(change.get("current")) or _status(detail.get("status"))
        previous = _status(change.get("previous"))
        if current == "solved":
            return [TicketSolved(**base)]
        if current == "closed":
            return [TicketClosed(**base)]
        if current not in _OPEN:
            return Unmappable(f"{kind}: unknown status {current!r}")
        events: list[Event] = []
        if previous in ("solved", "closed"):
            events.append(TicketReopened(**{**base, "id": ident + ":reopened"}))
            if current == "open":
                return events
        events.append(TicketStatusChanged(**base, status=current))  # type: ignore[arg-type]
        return events
    if kind == "ticket.group_assignment_changed":
        old = _queue(_group_id(change.get("previous")), config)
        new = _queue(_group_id(change.get("current")) or _group_id(detail.get("group_id")), config)
        if old == new:
            return []
        return [TicketMoved(**{**base, "queue": old}, to_queue=new)]
    if kind == "ticket.agent_assignment_changed":
        agent = _group_id(change.get("current")) or text(detail.get("assignee_id"))
        return [TicketAssigned(**base, agent=agent)] if agent else []
    if kind == "ticket.comment_added":
        comment = change.get("comment")
        if not isinstance(comment, Mapping):
            return Unmappable(f"{kind}: no event.comment")
        author = comment.get("author")
        staff = isinstance(author, Mapping) and bool(author.get("is_staff"))
        public = comment.get("is_public")
        return [
            TicketReplied(
                **base,
                author="agent" if staff else "customer",
                public=True if public is None else bool(public),
            )
        ]
    return []


def _satisfaction(payload: Mapping[str, Any], config: ZendeskSourceConfig) -> MappingResult:
    ticket = text(payload.get("ticket_id"))
    if ticket is None:
        return Unmappable("satisfaction: no ticket_id")
    rating = (text(payload.get("rating")) or "").lower()
    if rating.startswith("good"):
        score = 5
    elif rating.startswith("bad"):
        score = 1
    elif rating.isdigit() and 1 <= int(rating) <= 5:
        score = int(rating)
    elif rating in ("", "offered", "unoffered"):
        return []  # a survey was sent or withdrawn: nothing answered yet
    else:
        return Unmappable(f"satisfaction: unknown rating {rating!r}")
    when = parse_time(payload.get("time")) or datetime.now(UTC)
    queue = _queue(_group_id(payload.get("group_id")), config)
    ident = "zd-csat-" + digest(ticket, rating, payload.get("time"))
    return [SurveyResponse(id=ident, time=when, queue=queue, ticket_id=ticket, csat=score)]
