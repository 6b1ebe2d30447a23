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

The field types and the fields every event carries are in processors/event_fields.py, the
ticketing events in processors/ticket_events.py (re-exported here with the schema version:
``processors.events`` is the contract's one import path).
"""

from __future__ import annotations

from processors.event_fields import (
    SCHEMA_VERSION,
    AgentState,
    BlockReason,
    CallbackOutcome,
    Channel,
    EventBase,
    ExitReason,
    IvrOutcome,
    NonEmpty,
    Seconds,
    Text,
    check_name,
)
from processors.ticket_events import (
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

__all__ = [
    "CONTACT_TYPES",
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
    "type_name",
]

# --- telephony -------------------------------------------------------------------------------


class CallEntered(EventBase, frozen=True, tag="call.entered"):
    """A call joined the queue (the call was *offered* to the queue)."""

    call_id: NonEmpty
    channel: Channel = "voice"
    customer: NonEmpty | None = None


class CallBlocked(EventBase, frozen=True, tag="call.blocked"):
    """A call was rejected before it could queue (queue full, no agents, closed)."""

    call_id: NonEmpty
    channel: Channel = "voice"
    reason: BlockReason = "other"


class CallAnswered(EventBase, frozen=True, tag="call.answered"):
    """An agent answered a queued call. ``wait_seconds`` is the source's own figure, if any."""

    call_id: NonEmpty
    channel: Channel = "voice"
    agent: NonEmpty | None = None
    wait_seconds: Seconds | None = None

    def __post_init__(self) -> None:
        if self.agent is not None and not self.agent.isprintable():
            check_name("agent", self.agent)


class CallAbandoned(EventBase, frozen=True, tag="call.abandoned"):
    """The caller hung up while queued."""

    call_id: NonEmpty
    channel: Channel = "voice"
    wait_seconds: Seconds | None = None


class CallExited(EventBase, frozen=True, tag="call.exited"):
    """The call left the queue unanswered for another reason (timeout, key press, queue empty)."""

    call_id: NonEmpty
    channel: Channel = "voice"
    reason: ExitReason = "other"
    wait_seconds: Seconds | None = None


class CallMissed(EventBase, frozen=True, tag="call.missed"):
    """The queue rang ``agent`` for this call and the agent did not answer (Asterisk
    ``RINGNOANSWER``). Informational for the queue's KPIs: it counts in the agent's *missed*."""

    call_id: NonEmpty
    agent: NonEmpty
    ring_seconds: Seconds | None = None

    def __post_init__(self) -> None:
        check_name("agent", self.agent)


class CallTransferred(EventBase, frozen=True, tag="call.transferred"):
    """A call was transferred out of ``queue`` (to ``to_queue``, if the source says).

    ``while_queued`` false (the default): an answered call transferred by its agent; it is
    counted in ``transfers`` and is not an exit from the queue. True: the call was moved on while
    still waiting (a *flow-out*): it leaves this queue unanswered, an exit of its own kind
    (docs/kpis.md#flow_outs). Either way the call's entry into the next queue is that queue's own
    ``call.entered``.
    """

    call_id: NonEmpty
    channel: Channel = "voice"
    to_queue: NonEmpty | None = None
    while_queued: bool = False
    wait_seconds: Seconds | None = None


class CallCallbackRequested(EventBase, frozen=True, tag="call.callback_requested"):
    """The caller asked to be called back and left the queue: an exit of its own kind, not an
    abandon (docs/kpis.md#callbacks_requested). The callback belongs to this queue."""

    call_id: NonEmpty
    channel: Channel = "voice"
    wait_seconds: Seconds | None = None


class CallCallbackAttempted(EventBase, frozen=True, tag="call.callback_attempted"):
    """One outbound try to call back the caller of ``call_id``."""

    call_id: NonEmpty
    outcome: CallbackOutcome = "connected"
    agent: NonEmpty | None = None

    def __post_init__(self) -> None:
        if self.agent is not None:
            check_name("agent", self.agent)


class CallCallbackCompleted(EventBase, frozen=True, tag="call.callback_completed"):
    """The callback of ``call_id`` is over: ``success`` when the caller was reached, false when
    the tries were given up."""

    call_id: NonEmpty
    success: bool = True


class CallEnded(EventBase, frozen=True, tag="call.ended"):
    """Work on a handled call finished; ``time`` is the end of after-call work (wrap-up)."""

    call_id: NonEmpty
    channel: Channel = "voice"
    agent: NonEmpty | None = None
    talk_seconds: Seconds = 0.0
    hold_seconds: Seconds = 0.0
    wrapup_seconds: Seconds = 0.0

    def __post_init__(self) -> None:
        if self.agent is not None and not self.agent.isprintable():
            check_name("agent", self.agent)


class IvrEntered(EventBase, frozen=True, tag="ivr.entered"):
    """A call entered the self-service flow ``flow``; counted under ``queue`` (the flow's own key,
    or the queue it serves: docs/kpis.md#ivr_entered). ``call_id`` links it to the queue visit
    that may follow."""

    call_id: NonEmpty
    flow: NonEmpty

    def __post_init__(self) -> None:
        check_name("flow", self.flow)


class IvrExited(EventBase, frozen=True, tag="ivr.exited"):
    """The call left the flow: served by it (``self_served``), sent on to a queue (outcome
    ``to_queue``; the field ``to_queue`` may name the queue), hung up (``abandoned``) or failed
    (``error``). ``ivr_seconds`` is the source's own time in the flow, if any."""

    call_id: NonEmpty
    flow: NonEmpty
    outcome: IvrOutcome
    to_queue: NonEmpty | None = None
    ivr_seconds: Seconds | None = None

    def __post_init__(self) -> None:
        check_name("flow", self.flow)


class AgentStateChanged(EventBase, frozen=True, tag="agent.state"):
    """An agent serving ``queue`` entered ``state`` at ``time``."""

    agent: NonEmpty
    state: AgentState
    reason: Text | None = None

    def __post_init__(self) -> None:
        if not self.agent.isprintable():
            check_name("agent", self.agent)
        if self.reason is not None and not self.reason.isprintable():
            check_name("reason", self.reason)


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

TELEPHONY_TYPES: tuple[type[EventBase], ...] = (
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
TICKETING_TYPES: tuple[type[EventBase], ...] = (
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


CONTACT_TYPES: tuple[type[EventBase], ...] = (
    CallEntered,
    CallBlocked,
    CallAnswered,
    CallAbandoned,
    CallExited,
    CallCallbackRequested,
    CallTransferred,
    CallEnded,
)
"""The contact events: the ones that carry a ``channel`` (docs/kpis.md#channels)."""


def event_seconds(event: Event) -> float:
    """The event time as POSIX seconds (the engine's clock)."""
    return event.time.timestamp()


def type_name(event_type: type[EventBase]) -> str:
    """The wire ``type`` tag of an event class."""
    return str(event_type.__struct_config__.tag)
