"""What the engine reports: per queue, live gauges at an instant and KPIs per window.

Rates are fractions in 0..1. A rate or mean whose denominator is empty is ``None`` (JSON
``null``; absent from /metrics), never 0: "no calls" and "0 % abandoned" are different facts.
Each field's definition is in docs/kpis.md under the same name.
"""

from __future__ import annotations

from msgspec import Struct, field

__all__ = [
    "LIVE_FIELDS",
    "STAFFING_FIELDS",
    "WINDOW_FIELDS",
    "LiveKpis",
    "QueueSnapshot",
    "StaffingKpis",
    "WindowKpis",
]


class WindowKpis(Struct, kw_only=True):
    """KPIs over the event-time window W = (at - length, at] (or since local midnight)."""

    # telephony: arrivals family (counted at entry / rejection time)
    entered: int = 0
    offered: int = 0
    blocked: int = 0
    blocked_rate: float | None = None
    # telephony: exits family (counted at the time the call left the queue)
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    other_exits: int = 0
    answered_within_threshold: int = 0
    abandoned_within_threshold: int = 0
    abandon_rate: float | None = None
    asa_seconds: float | None = None
    avg_abandon_seconds: float | None = None
    patience_seconds: float | None = None
    """Estimated mean caller patience: total wait of all exits / abandoned (Erlang A input)."""
    service_level: float | None = None
    service_level_answered: float | None = None
    service_level_offered: float | None = None
    service_level_ignore_abandons: float | None = None
    service_level_abandons_positive: float | None = None
    # callbacks and transfers (processors/callbacks.py): exits of their own kind, at the exit
    callbacks_requested: int = 0
    flow_outs: int = 0
    # ... and what follows them, at the time it happened
    transfers: int = 0
    transfer_rate: float | None = None
    callback_attempts: int = 0
    callbacks_completed: int = 0
    callbacks_succeeded: int = 0
    callback_success_rate: float | None = None
    time_to_callback_seconds: float | None = None
    # self-service (processors/ivr.py): entries at entry, outcomes and time at the exit
    ivr_entered: int = 0
    ivr_self_served: int = 0
    ivr_to_queue: int = 0
    ivr_abandoned: int = 0
    ivr_errors: int = 0
    ivr_containment_rate: float | None = None
    ivr_abandon_rate: float | None = None
    ivr_seconds: float | None = None
    """Mean time in the flow of the passes that ended in W."""
    # handling and agents
    handled: int = 0
    aht_seconds: float | None = None
    occupancy: float | None = None
    # ticketing
    tickets_created: int = 0
    tickets_solved: int = 0
    tickets_reopened: int = 0
    reopen_rate: float | None = None
    first_replies: int = 0
    first_reply_seconds: float | None = None
    # surveys
    csat_responses: int = 0
    csat: float | None = None
    nps_responses: int = 0
    nps: float | None = None
    ces_responses: int = 0
    ces: float | None = None
    # first-contact resolution
    contacts: int = 0
    repeat_contacts: int = 0
    fcr: float | None = None


class StaffingKpis(Struct, kw_only=True):
    """The live staffing figures (processors/staffing.py, docs/staffing.md), declared once: the
    last fields of :class:`LiveKpis` and the figures :func:`processors.staffing.staffing_figures`
    returns. None when the inputs are too thin."""

    agents_required_erlang_c: float | None = None
    """Fewest agents meeting the service-level target by Erlang C."""
    agents_required_erlang_a: float | None = None
    """Fewest agents meeting the service-level target by Erlang A (needs a patience)."""
    agents_short: float | None = None
    """Agents required (Erlang A, else Erlang C) - agents staffed; negative = spare agents."""
    predicted_service_level: float | None = None
    """Service level the model predicts with the agents staffed now."""
    predicted_asa_seconds: float | None = None
    predicted_abandon_rate: float | None = None
    """Abandonment Erlang A predicts with the agents staffed now."""

    def copy_staffing(self, into: StaffingKpis) -> None:
        """Set the staffing fields of ``into`` (a snapshot's LiveKpis) to these."""
        for name in STAFFING_FIELDS:
            setattr(into, name, getattr(self, name))


STAFFING_FIELDS: tuple[str, ...] = tuple(StaffingKpis.__struct_fields__)


class LiveKpis(StaffingKpis):
    """Point-in-time gauges at the instant ``at``, then the staffing figures (the keyword-only
    fields of :class:`StaffingKpis` come after these)."""

    calls_waiting: int = 0
    oldest_wait_seconds: float = 0.0
    callbacks_pending: int = 0
    """Callbacks requested and not yet completed."""
    ivr_active: int = 0
    """Calls in a self-service flow now."""
    agents: dict[str, int] = field(default_factory=dict)
    """Agents by state now (available, on_call, wrap_up, not_ready); logged-out agents omitted."""
    agents_staffed: int = 0
    """Agents logged in (any state but logged_out)."""
    backlog: int = 0
    backlog_by_priority: dict[str, int] = field(default_factory=dict)
    backlog_by_age: dict[str, int] = field(default_factory=dict)
    """Unsolved tickets by age: ``lt_24h``, ``24h_48h``, ``gt_48h``."""
    oldest_ticket_age_seconds: float = 0.0
    tickets_past_sla: int = 0
    tickets_at_risk: int = 0
    # business-hours SLAs (processors/ticket_sla.py): calendar, pauses, warning ratio
    first_reply_sla_breached: int = 0
    """Backlog tickets without a first reply whose first-reply target has elapsed."""
    first_reply_sla_at_risk: int = 0
    resolution_sla_breached: int = 0
    """Backlog tickets whose resolution target has elapsed."""
    resolution_sla_at_risk: int = 0


class QueueSnapshot(Struct, kw_only=True):
    queue: str
    at: float
    """The instant (POSIX seconds, whole) the snapshot describes."""
    live: LiveKpis
    windows: dict[str, WindowKpis]
    channels: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    """Per channel, per window, its contact KPIs (processors/kpis.py's ``CHANNEL_KPIS``): only
    for a queue that has seen two channels or more (one channel's figures are the queue's)."""


LIVE_FIELDS: tuple[str, ...] = tuple(LiveKpis.__struct_fields__)
WINDOW_FIELDS: tuple[str, ...] = tuple(WindowKpis.__struct_fields__)
