"""Every windowed KPI as a formula over a window's summed counters. One definition each.

docs/kpis.md states the same formulas in prose; tests/test_kpi_properties.py checks them against
a plain batch recomputation from the raw events.
"""

from __future__ import annotations

from processors.counters import CounterIndex
from processors.settings import SlVariant
from processors.snapshot import WindowKpis

__all__ = ["ratio", "window_kpis"]


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by."""
    return numerator / denominator if denominator > 0 else None


def _count(value: float) -> int:
    """A summed count as an int. Counts add whole numbers, so their sums are whole (or a hair
    off after many additions): ``int(value + 0.5)`` is ``round`` for them, without a call of
    the builtin (a fifth of :func:`window_kpis` compiled, every window of every snapshot)."""
    return int(value + 0.5) if value >= 0.0 else round(value)


def window_kpis(
    totals: list[float],
    sl_variant: SlVariant,
    occupancy: float | None,
    against: tuple[bool, bool] = (False, False),
) -> WindowKpis:
    """The KPIs of one window from its summed counters. ``against``: whether callback requests
    and flow-outs count in the exits E (abandonment and service level), QueueSettings'
    ``sl_callbacks`` and ``sl_flow_outs``."""
    entered = _count(totals[CounterIndex.ENTERED])
    blocked = _count(totals[CounterIndex.BLOCKED])
    answered = _count(totals[CounterIndex.ANSWERED])
    abandoned = _count(totals[CounterIndex.ABANDONED])
    other = _count(totals[CounterIndex.OTHER_EXITS])
    a_t = _count(totals[CounterIndex.ANSWERED_WITHIN_T])
    b_t = _count(totals[CounterIndex.ABANDONED_WITHIN_T])
    callbacks = _count(totals[CounterIndex.CALLBACKS_REQUESTED])
    flow_outs = _count(totals[CounterIndex.FLOW_OUTS])
    exits = answered + abandoned + other
    if against[0]:
        exits += callbacks
    if against[1]:
        exits += flow_outs
    variants: dict[str, float | None] = {
        "answered": ratio(a_t, answered),
        "offered": ratio(a_t, exits),
        "ignore_abandons": ratio(a_t, exits - b_t),
        "abandons_positive": ratio(a_t + b_t, exits),
    }
    handled = _count(totals[CounterIndex.HANDLED])
    transfers = _count(totals[CounterIndex.TRANSFERS])
    completed = _count(totals[CounterIndex.CALLBACKS_COMPLETED])
    self_served = _count(totals[CounterIndex.IVR_SELF_SERVED])
    to_queue = _count(totals[CounterIndex.IVR_TO_QUEUE])
    ivr_abandoned = _count(totals[CounterIndex.IVR_ABANDONED])
    ivr_errors = _count(totals[CounterIndex.IVR_ERRORS])
    ivr_exits = self_served + to_queue + ivr_abandoned + ivr_errors
    succeeded = _count(totals[CounterIndex.CALLBACKS_SUCCEEDED])
    solved = _count(totals[CounterIndex.TICKETS_SOLVED])
    reopened = _count(totals[CounterIndex.TICKETS_REOPENED])
    first_replies = _count(totals[CounterIndex.FIRST_REPLIES])
    csat_n = _count(totals[CounterIndex.CSAT_RESPONSES])
    nps_n = _count(totals[CounterIndex.NPS_RESPONSES])
    ces_n = _count(totals[CounterIndex.CES_RESPONSES])
    contacts = _count(totals[CounterIndex.CONTACTS])
    repeats = _count(totals[CounterIndex.REPEAT_CONTACTS])
    nps = ratio(totals[CounterIndex.NPS_PROMOTERS] - totals[CounterIndex.NPS_DETRACTORS], nps_n)
    fcr = ratio(contacts - repeats, contacts)
    return WindowKpis(
        entered=entered,
        offered=entered,
        blocked=blocked,
        blocked_rate=ratio(blocked, blocked + entered),
        answered=answered,
        abandoned=abandoned,
        short_abandoned=_count(totals[CounterIndex.SHORT_ABANDONED]),
        other_exits=other,
        answered_within_threshold=a_t,
        abandoned_within_threshold=b_t,
        abandon_rate=ratio(abandoned, exits),
        asa_seconds=ratio(totals[CounterIndex.ANSWERED_WAIT_SUM], answered),
        avg_abandon_seconds=ratio(totals[CounterIndex.ABANDONED_WAIT_SUM], abandoned),
        patience_seconds=ratio(
            totals[CounterIndex.ANSWERED_WAIT_SUM]
            + totals[CounterIndex.ABANDONED_WAIT_SUM]
            + totals[CounterIndex.OTHER_EXITS_WAIT_SUM]
            + totals[CounterIndex.CALLBACK_REQUEST_WAIT_SUM]
            + totals[CounterIndex.FLOW_OUT_WAIT_SUM],
            abandoned,
        ),
        service_level=variants[sl_variant],
        service_level_answered=variants["answered"],
        service_level_offered=variants["offered"],
        service_level_ignore_abandons=variants["ignore_abandons"],
        service_level_abandons_positive=variants["abandons_positive"],
        callbacks_requested=callbacks,
        flow_outs=flow_outs,
        transfers=transfers,
        transfer_rate=ratio(transfers, answered),
        callback_attempts=_count(totals[CounterIndex.CALLBACK_ATTEMPTS]),
        callbacks_completed=completed,
        callbacks_succeeded=succeeded,
        callback_success_rate=ratio(succeeded, completed),
        time_to_callback_seconds=ratio(
            totals[CounterIndex.CALLBACK_TIME_SUM], _count(totals[CounterIndex.CALLBACKS_TIMED])
        ),
        ivr_entered=_count(totals[CounterIndex.IVR_ENTERED]),
        ivr_self_served=self_served,
        ivr_to_queue=to_queue,
        ivr_abandoned=ivr_abandoned,
        ivr_errors=ivr_errors,
        ivr_containment_rate=ratio(self_served, self_served + to_queue),
        ivr_abandon_rate=ratio(ivr_abandoned, ivr_exits),
        ivr_seconds=ratio(totals[CounterIndex.IVR_TIME_SUM], ivr_exits),
        handled=handled,
        aht_seconds=ratio(totals[CounterIndex.HANDLE_TIME_SUM], handled),
        occupancy=occupancy,
        tickets_created=_count(totals[CounterIndex.TICKETS_CREATED]),
        tickets_solved=solved,
        tickets_reopened=reopened,
        reopen_rate=ratio(reopened, solved),
        first_replies=first_replies,
        first_reply_seconds=ratio(totals[CounterIndex.FIRST_REPLY_SUM], first_replies),
        csat_responses=csat_n,
        csat=ratio(totals[CounterIndex.CSAT_GOOD], csat_n),
        nps_responses=nps_n,
        nps=None if nps is None else 100.0 * nps,
        ces_responses=ces_n,
        ces=ratio(totals[CounterIndex.CES_SUM], ces_n),
        contacts=contacts,
        repeat_contacts=repeats,
        fcr=fcr,
    )
