"""The ticketing events of the contract (processors/events.py, which holds the union of all
events): a ticket created, assigned, replied to, its status changed, solved, reopened, closed,
moved to another queue (and the derived ``ticket.moved_in``), and a survey response."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from processors.event_fields import (
    MAX_TEXT,
    AwareTime,
    EventBase,
    NonEmpty,
    OpenStatus,
    Priority,
    ReplyAuthor,
    Text,
    check_name,
)

__all__ = [
    "SurveyResponse",
    "TicketAssigned",
    "TicketClosed",
    "TicketCreated",
    "TicketMoved",
    "TicketMovedIn",
    "TicketReopened",
    "TicketReplied",
    "TicketSolved",
    "TicketStatusChanged",
]


class TicketCreated(EventBase, frozen=True, tag="ticket.created"):
    """A ticket was created in ``queue``. ``due_at`` overrides the per-priority SLA target."""

    ticket_id: NonEmpty
    priority: Priority = "normal"
    due_at: AwareTime | None = None
    customer: NonEmpty | None = None
    channel: Text | None = None


class TicketAssigned(EventBase, frozen=True, tag="ticket.assigned"):
    ticket_id: NonEmpty
    agent: NonEmpty

    def __post_init__(self) -> None:
        if not self.agent.isprintable():
            check_name("agent", self.agent)


class TicketReplied(EventBase, frozen=True, tag="ticket.replied"):
    """A comment on a ticket. Only a public agent reply can be the *first reply*."""

    ticket_id: NonEmpty
    author: ReplyAuthor = "agent"
    public: bool = True


class TicketStatusChanged(EventBase, frozen=True, tag="ticket.status"):
    """A ticket moved between the unsolved statuses (new, open, pending, on hold)."""

    ticket_id: NonEmpty
    status: OpenStatus


class TicketSolved(EventBase, frozen=True, tag="ticket.solved"):
    ticket_id: NonEmpty


class TicketReopened(EventBase, frozen=True, tag="ticket.reopened"):
    """A solved ticket became unsolved again; it is back in the backlog."""

    ticket_id: NonEmpty


class TicketClosed(EventBase, frozen=True, tag="ticket.closed"):
    ticket_id: NonEmpty


class TicketMoved(EventBase, frozen=True, tag="ticket.moved"):
    """The ticket left ``queue`` for ``to_queue``. Keyed by the old queue.

    The worker that owns the old queue forwards a :class:`TicketMovedIn` keyed by the new queue,
    so each queue's state stays on the partition that owns it.
    """

    ticket_id: NonEmpty
    to_queue: NonEmpty

    def __post_init__(self) -> None:
        if not self.to_queue.isprintable():
            check_name("to_queue", self.to_queue)
        if self.to_queue == self.queue:
            raise ValueError("a ticket cannot move to the queue it is in (to_queue == queue)")


class TicketMovedIn(EventBase, frozen=True, tag="ticket.moved_in"):
    """Derived: a ticket arrived in ``queue`` from ``from_queue``, with what is known of it."""

    id: Annotated[str, Meta(min_length=1, max_length=MAX_TEXT + 3)]
    """The move's id plus ``:in`` (processors/tickets.py): a move with an id of the longest
    length still forwards."""
    ticket_id: NonEmpty
    from_queue: NonEmpty
    created_at: AwareTime | None = None
    priority: Priority = "normal"
    due_at: AwareTime | None = None
    customer: NonEmpty | None = None
    first_reply_at: AwareTime | None = None
    status: Literal["new", "open", "pending", "hold", "solved", "closed"] = "open"


class SurveyResponse(EventBase, frozen=True, tag="survey.response"):
    """A customer survey answer about a call or ticket; any of the three scores may be absent."""

    ticket_id: Text | None = None
    call_id: Text | None = None
    csat: Annotated[int, Meta(ge=1, le=5)] | None = None
    nps: Annotated[int, Meta(ge=0, le=10)] | None = None
    ces: Annotated[int, Meta(ge=1, le=7)] | None = None
