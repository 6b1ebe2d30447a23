"""The KPI registry: every KPI the engine reports, with its title, unit, meaning and direction.

Alert summaries, the wallboard (its page and the Grafana *Wallboard*), the Grafana dashboards,
``ccpulse replay``'s table, the Prometheus help texts of the KPI gauges and the summary table of
docs/kpis.md all read their titles and units here, so a KPI cannot be called "Abandonment" in
one place and "Abandoned" in another. The full definitions stay in docs/kpis.md (and
docs/staffing.md); ``description`` is their first sentence, short enough for a tooltip.

tests/test_kpi_registry.py fails when a field of :class:`~processors.snapshot.WindowKpis` or
:class:`~processors.snapshot.LiveKpis` has no entry, and when docs/kpis.md's table is stale.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from msgspec import Struct

from processors.snapshot import LIVE_FIELDS, STAFFING_FIELDS, WINDOW_FIELDS

__all__ = [
    "CHANNEL_KPIS",
    "KPIS",
    "KPI_NAMES",
    "RATE_KPIS",
    "SECONDS_KPIS",
    "STAFFING_FIELDS",
    "TABLE_BEGIN",
    "TABLE_END",
    "Better",
    "Kind",
    "Kpi",
    "Unit",
    "kpi",
    "snapshot_fields",
    "summary_table",
    "title_of",
    "with_summary_table",
]

Unit = Literal["count", "rate", "seconds", "score", "agents"]
"""``rate``: a fraction in 0..1 shown as a percentage; ``score``: NPS (-100..100) or CES (1-7);
``agents``: a number of agents (the staffing figures)."""
Better = Literal["higher", "lower", "neither"]
"""Which way is good: ``higher`` (service level), ``lower`` (abandonment), ``neither`` (calls
entered: volume, not quality)."""
Kind = Literal["window", "live"]


class Kpi(Struct, frozen=True, kw_only=True):
    name: str
    """The snapshot field, the JSON key and the ``ccpulse_window_<name>`` or
    ``ccpulse_queue_<name>`` metric; the heading of its definition in docs/kpis.md."""
    kind: Kind
    """``window``: over a rolling window (WindowKpis); ``live``: at an instant (LiveKpis)."""
    title: str
    """For people: alert summaries, panel titles, table headings."""
    unit: Unit
    better: Better
    description: str
    """One sentence, from its definition in docs/kpis.md (docs/staffing.md for staffing)."""
    short: str = ""
    """A shorter title for a wallboard tile or a table column; empty: the title."""
    breakdown: str | None = None
    """For a live KPI that is a breakdown (``agents`` by state...): the label of its parts."""
    part_of: str | None = None
    """For a KPI that is one part of a breakdown (``agents_available`` is ``agents`` of state
    ``available``): the breakdown's name. Not a snapshot field of its own."""
    doc: str = "kpis"
    """The docs page that defines it (``docs/<doc>.md#<name>``)."""
    per_channel: bool = False
    """A window KPI of contacts, also reported per channel (``ccpulse_channel_window_<name>``;
    processors/channels.py, docs/kpis.md#channels)."""

    @property
    def label(self) -> str:
        """The short title, or the title when there is none."""
        return self.short or self.title

    @property
    def anchor(self) -> str:
        """``docs/kpis.md#asa_seconds``: where its definition is."""
        return f"docs/{self.doc}.md#{self.name}"


def _w(
    name: str, title: str, unit: Unit, better: Better, description: str, *, short: str = ""
) -> Kpi:
    return Kpi(
        name=name,
        kind="window",
        title=title,
        unit=unit,
        better=better,
        description=description,
        short=short,
        per_channel=name in _PER_CHANNEL,
    )


_PER_CHANNEL = frozenset(
    {
        "entered", "offered", "blocked", "blocked_rate", "answered", "abandoned",
        "short_abandoned", "other_exits", "answered_within_threshold",
        "abandoned_within_threshold", "abandon_rate", "asa_seconds", "avg_abandon_seconds",
        "patience_seconds", "service_level", "service_level_answered", "service_level_offered",
        "service_level_ignore_abandons", "service_level_abandons_positive",
        "callbacks_requested", "flow_outs", "transfers", "transfer_rate", "handled",
        "aht_seconds",
    }
)  # fmt: skip
"""The window KPIs of contacts: formulas over the contact counters only (CONTACT_COUNTERS,
processors/channels.py), so they exist per channel."""


def _l(
    name: str,
    title: str,
    unit: Unit,
    better: Better,
    description: str,
    *,
    short: str = "",
    breakdown: str | None = None,
    part_of: str | None = None,
    doc: str = "kpis",
) -> Kpi:
    return Kpi(
        name=name,
        kind="live",
        title=title,
        unit=unit,
        better=better,
        description=description,
        short=short,
        breakdown=breakdown,
        part_of=part_of,
        doc=doc,
    )


_STAFFING_NOTE = "; absent when the inputs are too thin"

# fmt: off
KPIS: tuple[Kpi, ...] = (
    # -- telephony, over a window
    _w("entered", "Calls entered", "count", "neither", "Calls that joined the queue in W."),
    _w("offered", "Calls offered", "count", "neither", "Calls offered: the same as entered."),
    _w("blocked", "Calls blocked", "count", "lower",
       "Calls rejected before they could queue (queue full, no agents, closed) in W."),
    _w("blocked_rate", "Blocked calls", "rate", "lower",
       "Share of call attempts that could not queue: blocked / (blocked + entered).",
       short="Blocked"),
    _w("answered", "Calls answered", "count", "neither", "Calls answered in W."),
    _w("abandoned", "Calls abandoned", "count", "lower",
       "Calls whose caller hung up while queued in W, after the short-abandon threshold."),
    _w("short_abandoned", "Short abandons", "count", "neither",
       "Abandons with a wait below the short-abandon threshold, counted here only."),
    _w("other_exits", "Other exits", "count", "lower",
       "Calls that left unanswered for another reason (timeout, key press, queue emptied)."),
    _w("answered_within_threshold", "Answered within threshold", "count", "higher",
       "Answered calls with a wait at or under the service-level threshold T."),
    _w("abandoned_within_threshold", "Abandoned within threshold", "count", "lower",
       "Abandoned calls (not short) with a wait at or under the service-level threshold T."),
    _w("abandon_rate", "Abandonment", "rate", "lower",
       "Abandoned calls / exits (answered + abandoned + other exits), short abandons excluded."),
    _w("asa_seconds", "Average speed of answer", "seconds", "lower",
       "Total wait of answered calls / answered.", short="ASA"),
    _w("avg_abandon_seconds", "Average time to abandon", "seconds", "neither",
       "Total wait of abandoned calls (not short) / abandoned.", short="Time to abandon"),
    _w("patience_seconds", "Caller patience", "seconds", "higher",
       "Estimated mean caller patience: total wait of all exits / abandoned (Erlang A input)."),
    _w("service_level", "Service level", "rate", "higher",
       "The queue's chosen variant (sl_variant, default offered) of the four service levels."),
    _w("service_level_answered", "Service level (answered)", "rate", "higher",
       "Calls answered within T / answered."),
    _w("service_level_offered", "Service level (offered)", "rate", "higher",
       "Calls answered within T / exits: abandons count against."),
    _w("service_level_ignore_abandons", "Service level (ignoring abandons)", "rate", "higher",
       "Calls answered within T / (exits - abandoned within T)."),
    _w("service_level_abandons_positive", "Service level (abandons positive)", "rate", "higher",
       "(Answered + abandoned within T) / exits: abandons within T count as in service level."),
    # -- callbacks and transfers, over a window
    _w("callbacks_requested", "Callbacks requested", "count", "neither",
       "Calls that left the queue asking to be called back in W: an exit of its own kind."),
    _w("flow_outs", "Flow-outs", "count", "neither",
       "Calls transferred out of the queue while still waiting in W: an exit of its own kind."),
    _w("transfers", "Transfers", "count", "neither",
       "Answered calls transferred by their agent in W."),
    _w("transfer_rate", "Transfer rate", "rate", "lower", "Transfers / answered over W."),
    _w("callback_attempts", "Callback attempts", "count", "neither",
       "Outbound tries to call back a caller in W."),
    _w("callbacks_completed", "Callbacks completed", "count", "neither",
       "Callbacks closed in W, successful or not."),
    _w("callbacks_succeeded", "Callbacks succeeded", "count", "higher",
       "Callbacks closed in W that reached the caller."),
    _w("callback_success_rate", "Callback success", "rate", "higher",
       "Callbacks succeeded / callbacks completed over W."),
    _w("time_to_callback_seconds", "Time to callback", "seconds", "lower",
       "Mean of (completion - request) over the successful callbacks completed in W."),
    # -- self-service (IVR), over a window
    _w("ivr_entered", "IVR entries", "count", "neither",
       "Calls that entered a self-service flow in W."),
    _w("ivr_self_served", "Self-served", "count", "higher",
       "Passes through a flow that ended served by it, without an agent, in W."),
    _w("ivr_to_queue", "IVR to queue", "count", "neither",
       "Passes through a flow that ended sent on to an agent queue in W."),
    _w("ivr_abandoned", "IVR abandons", "count", "lower",
       "Passes through a flow that ended with the caller hanging up in W."),
    _w("ivr_errors", "IVR errors", "count", "lower",
       "Passes through a flow that ended in an error in W."),
    _w("ivr_containment_rate", "IVR containment", "rate", "higher",
       "Self-served / (self-served + sent to a queue) over W."),
    _w("ivr_abandon_rate", "IVR abandonment", "rate", "lower",
       "IVR abandons / all passes ended in W."),
    _w("ivr_seconds", "Time in IVR", "seconds", "neither",
       "Mean time in the flow of the passes that ended in W."),
    _w("handled", "Calls handled", "count", "neither",
       "Calls whose work ended (at the end of after-call work) in W."),
    _w("aht_seconds", "Average handle time", "seconds", "lower",
       "(Talk + hold + wrap-up) of calls ended in W / handled.", short="AHT"),
    _w("occupancy", "Occupancy", "rate", "neither",
       "Agents' time on calls and wrap-up / (that + time available) over W."),
    # -- ticketing, over a window
    _w("tickets_created", "Tickets created", "count", "neither",
       "Inflow: tickets created in this queue in W (tickets moved in are not inflow)."),
    _w("tickets_solved", "Tickets solved", "count", "higher",
       "Outflow: ticket.solved events in W."),
    _w("tickets_reopened", "Tickets reopened", "count", "lower", "ticket.reopened events in W."),
    _w("reopen_rate", "Reopen rate", "rate", "lower", "Tickets reopened / tickets solved over W."),
    _w("first_replies", "First replies", "count", "neither",
       "Tickets whose first public agent reply happened in W."),
    _w("first_reply_seconds", "First reply time", "seconds", "lower",
       "Mean of (first public agent reply - creation) over first replies."),
    # -- surveys
    _w("csat_responses", "CSAT responses", "count", "neither",
       "Survey answers with a CSAT score (1-5) in W."),
    _w("csat", "CSAT", "rate", "higher", "Share of CSAT answers that are 4 or 5."),
    _w("nps_responses", "NPS responses", "count", "neither",
       "Survey answers with an NPS score (0-10) in W."),
    _w("nps", "NPS", "score", "higher",
       "% promoters (9-10) minus % detractors (0-6), on -100..100."),
    _w("ces_responses", "CES responses", "count", "neither",
       "Survey answers with a customer-effort score (1-7) in W."),
    _w("ces", "Customer effort", "score", "lower", "Mean customer-effort score (1-7)."),
    # -- first-contact resolution
    _w("contacts", "Contacts", "count", "neither",
       "Calls entering the queue and tickets created in it, with a known customer, in W."),
    _w("repeat_contacts", "Repeat contacts", "count", "lower",
       "Contacts whose customer had another contact in the same queue within the FCR window."),
    _w("fcr", "First-contact resolution", "rate", "higher", "1 - repeat contacts / contacts."),
    # -- live gauges
    _l("calls_waiting", "Calls waiting", "count", "lower",
       "Calls in the queue now: entered and not yet left."),
    _l("oldest_wait_seconds", "Oldest call waiting", "seconds", "lower",
       "How long the longest-waiting call has waited; 0 when nobody waits.",
       short="Oldest wait"),
    _l("callbacks_pending", "Callbacks pending", "count", "lower",
       "Callbacks requested and not yet completed, now."),
    _l("ivr_active", "Calls in IVR", "count", "neither",
       "Calls in a self-service flow now: entered and not yet left."),
    _l("agents", "Agents by state", "count", "neither",
       "Agents by state now (available, on_call, wrap_up, not_ready); logged-out agents omitted.",
       breakdown="state"),
    _l("agents_available", "Agents available", "count", "higher",
       "Agents in state available now.", part_of="agents"),
    _l("agents_staffed", "Agents staffed", "count", "higher",
       "Agents logged in now (any state but logged_out)."),
    _l("backlog", "Ticket backlog", "count", "lower",
       "Unsolved tickets (new, open, pending, hold) in the queue now."),
    _l("backlog_by_priority", "Ticket backlog by priority", "count", "lower",
       "The backlog split by priority (low, normal, high, urgent).", breakdown="priority"),
    _l("backlog_by_age", "Ticket backlog by age", "count", "lower",
       "The backlog by age since creation: lt_24h, 24h_48h, gt_48h.", breakdown="age"),
    _l("oldest_ticket_age_seconds", "Oldest ticket", "seconds", "lower",
       "Age of the oldest ticket in the backlog; 0 when there is none."),
    _l("tickets_past_sla", "Tickets past SLA", "count", "lower",
       "Backlog tickets whose SLA due time has passed."),
    _l("tickets_at_risk", "Tickets at risk", "count", "lower",
       "Backlog tickets due within at_risk_minutes (default 60)."),
    _l("first_reply_sla_breached", "First-reply SLA breached", "count", "lower",
       "Backlog tickets without a first reply whose first-reply target has elapsed "
       "(business hours, pauses excluded).", short="First reply breached"),
    _l("first_reply_sla_at_risk", "First-reply SLA at risk", "count", "lower",
       "Backlog tickets without a first reply past sla_warning_ratio of the target.",
       short="First reply at risk"),
    _l("resolution_sla_breached", "Resolution SLA breached", "count", "lower",
       "Backlog tickets whose resolution target has elapsed (business hours, pauses excluded).",
       short="Resolution breached"),
    _l("resolution_sla_at_risk", "Resolution SLA at risk", "count", "lower",
       "Backlog tickets past sla_warning_ratio of the resolution target.",
       short="Resolution at risk"),
    # -- staffing (docs/staffing.md): live, nullable
    _l("agents_required_erlang_c", "Agents required (Erlang C)", "agents", "neither",
       "Fewest agents meeting the service-level target by Erlang C" + _STAFFING_NOTE + ".",
       doc="staffing"),
    _l("agents_required_erlang_a", "Agents required (Erlang A)", "agents", "neither",
       "Fewest agents meeting the service-level target by Erlang A" + _STAFFING_NOTE + ".",
       doc="staffing"),
    _l("agents_short", "Agents short", "agents", "lower",
       "Agents required minus agents staffed (negative: spare agents)" + _STAFFING_NOTE + ".",
       doc="staffing"),
    _l("predicted_service_level", "Predicted service level", "rate", "higher",
       "Service level predicted with the agents staffed now" + _STAFFING_NOTE + ".",
       doc="staffing"),
    _l("predicted_asa_seconds", "Predicted ASA", "seconds", "lower",
       "ASA predicted with the agents staffed now" + _STAFFING_NOTE + ".", doc="staffing"),
    _l("predicted_abandon_rate", "Predicted abandonment", "rate", "lower",
       "Abandonment predicted by Erlang A with the agents staffed now" + _STAFFING_NOTE + ".",
       doc="staffing"),
)
# fmt: on

_BY_NAME: Mapping[str, Kpi] = {entry.name: entry for entry in KPIS}
KPI_NAMES: frozenset[str] = frozenset(_BY_NAME)

RATE_KPIS: frozenset[str] = frozenset(k.name for k in KPIS if k.unit == "rate")
"""Fractions in 0..1, shown as percentages."""
SECONDS_KPIS: frozenset[str] = frozenset(k.name for k in KPIS if k.unit == "seconds")
CHANNEL_KPIS: tuple[str, ...] = tuple(k.name for k in KPIS if k.per_channel)
"""The window KPIs also reported per channel, in registry order (processors/channels.py)."""


def kpi(name: str) -> Kpi:
    """The entry of ``name``; KeyError for a name that is not a KPI."""
    return _BY_NAME[name]


def title_of(name: str) -> str:
    """The KPI's title; a name outside the registry (a volume such as ``exits``) spelt out."""
    entry = _BY_NAME.get(name)
    return entry.title if entry is not None else name.replace("_", " ").capitalize()


def snapshot_fields() -> Iterator[tuple[Kind, str]]:
    """Every (kind, field) the engine's snapshot carries: what the registry must cover."""
    for name in WINDOW_FIELDS:
        yield "window", name
    for name in LIVE_FIELDS:
        yield "live", name


_BETTER_TEXT = {"higher": "higher is better", "lower": "lower is better", "neither": "-"}
_UNIT_TEXT = {
    "count": "count",
    "rate": "fraction 0..1",
    "seconds": "seconds",
    "score": "score",
    "agents": "agents",
}


TABLE_BEGIN = "<!-- kpi-table: generated from processors/kpis.py by `ccpulse kpis --write-docs` -->"
TABLE_END = "<!-- /kpi-table -->"


def with_summary_table(text: str) -> str:
    """``text`` (docs/kpis.md) with the part between the markers replaced by
    :func:`summary_table`; ValueError when the markers are missing."""
    begin, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if begin < 0 or end < begin:
        raise ValueError(f"no {TABLE_BEGIN!r} ... {TABLE_END!r} markers")
    head = text[: begin + len(TABLE_BEGIN)]
    return f"{head}\n\n{summary_table()}\n{text[end:]}"


def summary_table() -> str:
    """The Markdown table of every KPI (docs/kpis.md holds it between marker comments)."""
    lines = [
        "| KPI | title | kind | unit | direction | per channel |",
        "|---|---|---|---|---|---|",
    ]
    for entry in KPIS:
        anchor = f"[`{entry.name}`]({entry.doc}.md#{entry.name})"
        if entry.doc == "kpis":
            anchor = f"[`{entry.name}`](#{entry.name})"
        if entry.part_of is not None:
            anchor = f"`{entry.name}` (part of [`{entry.part_of}`](#{entry.part_of}))"
        lines.append(
            f"| {anchor} | {entry.title} | {entry.kind} | {_UNIT_TEXT[entry.unit]} "
            f"| {_BETTER_TEXT[entry.better]} | {'yes' if entry.per_channel else ''} |"
        )
    return "\n".join(lines) + "\n"
