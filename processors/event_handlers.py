"""The engine's table of event handlers: one per event type, each applying one event to its
queue's runtime (processors/queue_runtime.py) and saying whether it counted.

A dict look-up per event instead of a chain of isinstance checks; the handlers themselves live
beside the facts they keep (processors/calls.py, agents.py, callbacks.py, ivr.py, tickets.py,
drilldown.py), this module only binds them to the runtime.
"""

from __future__ import annotations

from typing import Any

from processors.agents import apply_agent_state
from processors.batch import BatchResult
from processors.callbacks import (
    on_callback_attempted,
    on_callback_completed,
    on_callback_requested,
    on_transferred,
)
from processors.calls import CALL_HANDLERS, CallHandler
from processors.contacts import apply_contact
from processors.drilldown import DRILL_HANDLERS, DrillHandler, on_agent_state, on_call_event
from processors.events import (
    TICKETING_TYPES,
    AgentStateChanged,
    CallCallbackAttempted,
    CallCallbackCompleted,
    CallCallbackRequested,
    CallEntered,
    CallMissed,
    CallTransferred,
    IvrEntered,
    IvrExited,
    SurveyResponse,
    TicketCreated,
)
from processors.ivr import IvrHandler, on_ivr_entered, on_ivr_exited
from processors.queue_runtime import Handler, QueueRuntime
from processors.tickets import (
    TicketEvent,
    apply_survey,
    apply_ticket_event,
    in_backlog_after_all_changes,
)

__all__ = ["event_handlers"]


def event_handlers() -> dict[type, Handler]:
    """One handler per event type (what :class:`processors.engine.KpiEngine` dispatches on)."""
    return {
        **{
            kind: _call_handler(apply, DRILL_HANDLERS.get(kind))
            for kind, apply in CALL_HANDLERS.items()
        },
        CallEntered: _on_entered,
        AgentStateChanged: _on_agent,
        CallTransferred: _call_handler(on_transferred),
        CallCallbackRequested: _call_handler(on_callback_requested),
        CallCallbackAttempted: _call_handler(on_callback_attempted),
        CallCallbackCompleted: _call_handler(on_callback_completed),
        IvrEntered: _ivr_handler(on_ivr_entered),
        IvrExited: _ivr_handler(on_ivr_exited),
        CallMissed: _on_missed,
        SurveyResponse: _on_survey,
        **{kind: _on_ticket for kind in TICKETING_TYPES if kind is not SurveyResponse},
    }


def _on_entered(runtime: QueueRuntime, event: CallEntered, t: float, result: BatchResult) -> bool:
    state, panes = runtime.state, runtime.panes
    runtime.open_calls.touched(event.call_id)
    applied = CALL_HANDLERS[CallEntered](state, runtime.contacts, event, t, runtime.settings)
    if applied:
        on_call_event(state, event, t, runtime.drill_length, runtime.settings.timezone)
        if event.customer is not None:
            apply_contact(state, panes, event.customer, t, event.id, runtime.fcr_window)
    return applied


def _on_agent(
    runtime: QueueRuntime, event: AgentStateChanged, t: float, result: BatchResult
) -> bool:
    runtime.occupancy.changed(t)
    if runtime.agents_changed_from is None or t < runtime.agents_changed_from:
        runtime.agents_changed_from = t
    applied = apply_agent_state(runtime.state, event.agent, t, event.state)
    if applied and event.reason is not None:
        on_agent_state(runtime.state, event, t)
    return applied


def _call_handler(apply: CallHandler, drill: DrillHandler | None = None) -> Handler:
    def on_call(runtime: QueueRuntime, event: Any, t: float, result: BatchResult) -> bool:
        runtime.open_calls.touched(event.call_id)
        applied = apply(runtime.state, runtime.contacts, event, t, runtime.settings)
        if applied and drill is not None:
            drill(runtime.state, event, t, runtime.drill_length, runtime.settings.timezone)
        return applied

    return on_call


def _ivr_handler(apply: IvrHandler) -> Handler:
    def on_ivr(runtime: QueueRuntime, event: Any, t: float, result: BatchResult) -> bool:
        runtime.open_passes.touched(event.call_id)
        return apply(runtime.state, runtime.panes, event, t, runtime.settings)

    return on_ivr


def _on_missed(runtime: QueueRuntime, event: CallMissed, t: float, result: BatchResult) -> bool:
    # Informational for the queue's KPIs: an agent's missed call (processors/drilldown.py).
    on_call_event(runtime.state, event, t, runtime.drill_length, runtime.settings.timezone)
    return True


def _on_survey(runtime: QueueRuntime, event: SurveyResponse, t: float, result: BatchResult) -> bool:
    return apply_survey(runtime.panes, event, t)


def _on_ticket(runtime: QueueRuntime, event: TicketEvent, t: float, result: BatchResult) -> bool:
    state, panes = runtime.state, runtime.panes
    applied, forward = apply_ticket_event(state, panes, event, t)
    if forward is not None:
        result.forwarded.append(forward)
    if applied and isinstance(event, TicketCreated) and event.customer is not None:
        apply_contact(state, panes, event.customer, t, event.id, runtime.fcr_window)
    open_tickets = runtime.open_tickets
    if open_tickets is not None:
        ticket = state.tickets.get(event.ticket_id)
        if ticket is not None and in_backlog_after_all_changes(ticket):
            open_tickets.add(event.ticket_id)
        else:
            open_tickets.discard(event.ticket_id)
    return applied
