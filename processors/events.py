"""The canonical ccpulse event contract, version 1.

Every source (the simulator, Asterisk's queue_log, Twilio, Zendesk, Jira) is translated into
these types before anything is counted, so each KPI is defined once, over these events only.

The wire form is JSON: an object with ``v`` (schema version), ``id`` (unique per event; a
duplicate id is applied once), ``type`` (the tag below), ``time`` (RFC 3339 with an offset) and
``queue``. The JSON Schema in ``docs/event-schema.json`` is generated from these classes, so the
documentation and the decoder cannot drift apart.

These are msgspec Structs because msgspec validates and decodes JSON straight into them in one
C-level pass: the decoder is the schema check, and it is several times cheaper per event than a
``json.loads`` followed by a model constructor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

__all__ = [
    "SCHEMA_VERSION",
    "TELEPHONY_TYPES",
    "TICKETING_TYPES",
    "AgentState",
    "AgentStateChanged",
    "CallAbandoned",
    "CallAnswered",
    "CallBlocked",
    "CallCallbackAttempted",
    "CallCallbackCompleted",
    "CallCallbackRequested",
    "CallEnded",
    "CallEntered",
    "CallExited",
    "CallMissed",
    "CallTransferred",
    "Event",
    "IvrEntered",
    "IvrExited",
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
    "event_seconds",
    "name_problem",
    "type_name",
]

SCHEMA_VERSION = 1

MAX_TEXT = 256
"""Longest identifier or free-text field, in characters (a longer one is refused: ``invalid``)."""
MAX_SECONDS = 10_000_000.0
"""Longest duration a source may report (about 115 days): anything above it, or not finite, is
refused (``invalid``), so that no sum or average of durations can become infinite or NaN."""

NonEmpty = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]
Text = Annotated[str, Meta(max_length=MAX_TEXT)]
Seconds = Annotated[float, Meta(ge=0, le=MAX_SECONDS)]
AwareTime = Annotated[datetime, Meta(tz=True)]

AgentState = Literal["logged_out", "available", "on_call", "wrap_up", "not_ready"]
BlockReason = Literal["queue_full", "no_agents", "closed", "other"]
ExitReason = Literal["timeout", "key", "empty", "other"]
Priority = Literal["low", "normal", "high", "urgent"]
OpenStatus = Literal["new", "open", "pending", "hold"]
ReplyAuthor = Literal["agent", "customer", "automation"]
CallbackOutcome = Literal["connected", "no_answer", "busy", "failed"]
IvrOutcome = Literal["self_served", "to_queue", "abandoned", "error"]


class _Base(
    Struct, frozen=True, tag_field="type", forbid_unknown_fields=False, kw_only=True, gc=False
):
    """Fields every event carries. Unknown extra fields are tolerated (forward compatibility).

    Not tracked by the garbage collector (``gc=False``): an event holds only strings, numbers
    and datetimes, so it can never be part of a reference cycle, and a worker decodes tens of
    thousands of them per second.
    """

    v: Annotated[int, Meta(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    id: NonEmpty
    time: AwareTime
    queue: NonEmpty


# --- telephony -------------------------------------------------------------------------------


class CallEntered(_Base, frozen=True, tag="call.entered"):
    """A call joined the queue (the call was *offered* to the queue)."""

    call_id: NonEmpty
    customer: NonEmpty | None = None


class CallBlocked(_Base, frozen=True, tag="call.blocked"):
    """A call was rejected before it could queue (queue full, no agents, closed)."""

    call_id: NonEmpty
    reason: BlockReason = "other"


class CallAnswered(_Base, frozen=True, tag="call.answered"):
    """An agent answered a queued call. ``wait_seconds`` is the source's own figure, if any."""

    call_id: NonEmpty
    agent: NonEmpty | None = None
    wait_seconds: Seconds | None = None

    def __post_init__(self) -> None:
        if self.agent is not None and not self.agent.isprintable():
            _check_name("agent", self.agent)


class CallAbandoned(_Base, frozen=True, tag="call.abandoned"):
    """The caller hung up while queued."""

    call_id: NonEmpty
    wait_seconds: Seconds | None = None


class CallExited(_Base, frozen=True, tag="call.exited"):
    """The call left the queue unanswered for another reason (timeout, key press, queue empty)."""

    call_id: NonEmpty
    reason: ExitReason = "other"
    wait_seconds: Seconds | None = None


class CallMissed(_Base, frozen=True, tag="call.missed"):
    """The queue rang ``agent`` for this call and the agent did not answer (Asterisk
    ``RINGNOANSWER``). Informational for the queue's KPIs: it counts in the agent's *missed*."""

    call_id: NonEmpty
    agent: NonEmpty
    ring_seconds: Seconds | None = None

    def __post_init__(self) -> None:
        _check_name("agent", self.agent)


class CallTransferred(_Base, frozen=True, tag="call.transferred"):
    """A call was transferred out of ``queue`` (to ``to_queue``, if the source says).

    ``while_queued`` false (the default): an answered call transferred by its agent; it is
    counted in ``transfers`` and is not an exit from the queue. True: the call was moved on while
    still waiting (a *flow-out*): it leaves this queue unanswered, an exit of its own kind
    (docs/kpis.md#flow_outs). Either way the call's entry into the next queue is that queue's own
    ``call.entered``.
    """

    call_id: NonEmpty
    to_queue: NonEmpty | None = None
    while_queued: bool = False
    wait_seconds: Seconds | None = None


class CallCallbackRequested(_Base, frozen=True, tag="call.callback_requested"):
    """The caller asked to be called back and left the queue: an exit of its own kind, not an
    abandon (docs/kpis.md#callbacks_requested). The callback belongs to this queue."""

    call_id: NonEmpty
    wait_seconds: Seconds | None = None


class CallCallbackAttempted(_Base, frozen=True, tag="call.callback_attempted"):
    """One outbound try to call back the caller of ``call_id``."""

    call_id: NonEmpty
    outcome: CallbackOutcome = "connected"
    agent: NonEmpty | None = None

    def __post_init__(self) -> None:
        if self.agent is not None:
            _check_name("agent", self.agent)


class CallCallbackCompleted(_Base, frozen=True, tag="call.callback_completed"):
    """The callback of ``call_id`` is over: ``success`` when the caller was reached, false when
    the tries were given up."""

    call_id: NonEmpty
    success: bool = True


class CallEnded(_Base, frozen=True, tag="call.ended"):
    """Work on a handled call finished; ``time`` is the end of after-call work (wrap-up)."""

    call_id: NonEmpty
    agent: NonEmpty | None = None
    talk_seconds: Seconds = 0.0
    hold_seconds: Seconds = 0.0
    wrapup_seconds: Seconds = 0.0

    def __post_init__(self) -> None:
        if self.agent is not None and not self.agent.isprintable():
            _check_name("agent", self.agent)


class IvrEntered(_Base, frozen=True, tag="ivr.entered"):
    """A call entered the self-service flow ``flow``; counted under ``queue`` (the flow's own key,
    or the queue it serves: docs/kpis.md#ivr_entered). ``call_id`` links it to the queue visit
    that may follow."""

    call_id: NonEmpty
    flow: NonEmpty

    def __post_init__(self) -> None:
        _check_name("flow", self.flow)


class IvrExited(_Base, frozen=True, tag="ivr.exited"):
    """The call left the flow: served by it (``self_served``), sent on to a queue (outcome
    ``to_queue``; the field ``to_queue`` may name the queue), hung up (``abandoned``) or failed
    (``error``). ``ivr_seconds`` is the source's own time in the flow, if any."""

    call_id: NonEmpty
    flow: NonEmpty
    outcome: IvrOutcome
    to_queue: NonEmpty | None = None
    ivr_seconds: Seconds | None = None

    def __post_init__(self) -> None:
        _check_name("flow", self.flow)


class AgentStateChanged(_Base, frozen=True, tag="agent.state"):
    """An agent serving ``queue`` entered ``state`` at ``time``."""

    agent: NonEmpty
    state: AgentState
    reason: Text | None = None

    def __post_init__(self) -> None:
        if not self.agent.isprintable():
            _check_name("agent", self.agent)
        if self.reason is not None and not self.reason.isprintable():
            _check_name("reason", self.reason)


# --- ticketing -------------------------------------------------------------------------------


class TicketCreated(_Base, frozen=True, tag="ticket.created"):
    """A ticket was created in ``queue``. ``due_at`` overrides the per-priority SLA target."""

    ticket_id: NonEmpty
    priority: Priority = "normal"
    due_at: AwareTime | None = None
    customer: NonEmpty | None = None
    channel: Text | None = None


class TicketAssigned(_Base, frozen=True, tag="ticket.assigned"):
    ticket_id: NonEmpty
    agent: NonEmpty

    def __post_init__(self) -> None:
        if not self.agent.isprintable():
            _check_name("agent", self.agent)


class TicketReplied(_Base, frozen=True, tag="ticket.replied"):
    """A comment on a ticket. Only a public agent reply can be the *first reply*."""

    ticket_id: NonEmpty
    author: ReplyAuthor = "agent"
    public: bool = True


class TicketStatusChanged(_Base, frozen=True, tag="ticket.status"):
    """A ticket moved between the unsolved statuses (new, open, pending, on hold)."""

    ticket_id: NonEmpty
    status: OpenStatus


class TicketSolved(_Base, frozen=True, tag="ticket.solved"):
    ticket_id: NonEmpty


class TicketReopened(_Base, frozen=True, tag="ticket.reopened"):
    """A solved ticket became unsolved again; it is back in the backlog."""

    ticket_id: NonEmpty


class TicketClosed(_Base, frozen=True, tag="ticket.closed"):
    ticket_id: NonEmpty


class TicketMoved(_Base, frozen=True, tag="ticket.moved"):
    """The ticket left ``queue`` for ``to_queue``. Keyed by the old queue.

    The worker that owns the old queue forwards a :class:`TicketMovedIn` keyed by the new queue,
    so each queue's state stays on the partition that owns it.
    """

    ticket_id: NonEmpty
    to_queue: NonEmpty

    def __post_init__(self) -> None:
        if not self.to_queue.isprintable():
            _check_name("to_queue", self.to_queue)
        if self.to_queue == self.queue:
            raise ValueError("a ticket cannot move to the queue it is in (to_queue == queue)")


class TicketMovedIn(_Base, frozen=True, tag="ticket.moved_in"):
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


class SurveyResponse(_Base, frozen=True, tag="survey.response"):
    """A customer survey answer about a call or ticket; any of the three scores may be absent."""

    ticket_id: Text | None = None
    call_id: Text | None = None
    csat: Annotated[int, Meta(ge=1, le=5)] | None = None
    nps: Annotated[int, Meta(ge=0, le=10)] | None = None
    ces: Annotated[int, Meta(ge=1, le=7)] | None = None


Event = (
    CallEntered
    | CallBlocked
    | CallAnswered
    | CallAbandoned
    | CallExited
    | CallMissed
    | CallTransferred
    | CallEnded
    | CallCallbackRequested
    | CallCallbackAttempted
    | CallCallbackCompleted
    | IvrEntered
    | IvrExited
    | AgentStateChanged
    | TicketCreated
    | TicketAssigned
    | TicketReplied
    | TicketStatusChanged
    | TicketSolved
    | TicketReopened
    | TicketClosed
    | TicketMoved
    | TicketMovedIn
    | SurveyResponse
)

TELEPHONY_TYPES: tuple[type[_Base], ...] = (
    CallEntered,
    CallBlocked,
    CallAnswered,
    CallAbandoned,
    CallExited,
    CallTransferred,
    CallEnded,
    AgentStateChanged,
    CallCallbackRequested,
    CallCallbackAttempted,
    CallCallbackCompleted,
    IvrEntered,
    IvrExited,
    CallMissed,
)
TICKETING_TYPES: tuple[type[_Base], ...] = (
    TicketCreated,
    TicketAssigned,
    TicketReplied,
    TicketStatusChanged,
    TicketSolved,
    TicketReopened,
    TicketClosed,
    TicketMoved,
    TicketMovedIn,
    SurveyResponse,
)


NAME_REFUSED = "control or bidi characters"
"""Part of the reason of every name refused by :func:`name_problem` (streams/worker/deadletter.py
classifies on it)."""


def name_problem(field: str, value: str) -> str | None:
    """Why ``value`` cannot be a queue name, an agent id or a reason (None: it can).

    Names are shown on wallboards and in alerts and used as Prometheus labels: a control
    character or a bidirectional override (which can make a name display as another one) is
    refused, and so is any character Python does not deem printable (format characters such as
    U+200B, separators other than the space). ``str.isprintable`` is one C pass over the string.
    """
    if value.isprintable():
        return None
    return f"{field} contains {NAME_REFUSED} (not printable): {value[:64]!r}"


def _check_name(field: str, value: str) -> None:
    """Raise ValueError (msgspec turns it into a ValidationError) if ``value`` is no name.
    Callers test ``value.isprintable()`` first: the common case costs no Python call (a
    ``__post_init__`` runs for every decoded event that names an agent)."""
    problem = name_problem(field, value)
    if problem is not None:
        raise ValueError(problem)


def event_seconds(event: Event) -> float:
    """The event time as POSIX seconds (the engine's clock)."""
    return event.time.timestamp()


def type_name(event_type: type[_Base]) -> str:
    """The wire ``type`` tag of an event class."""
    return str(event_type.__struct_config__.tag)
