"""*Tickets*: backlog, its age and priority, SLA breaches, inflow / outflow, and surveys.

Live backlog gauges are per queue (``max by (queue)``, then summed over the queues picked);
inflow, outflow and the survey scores are over the window picked in the ``window`` variable.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashboards import panels, promql
from dashboards.panels import query
from processors.alert_rules import AlertRule
from processors.kpis import kpi
from processors.thresholds import kpi_bands

__all__ = ["UID", "build"]

UID = "ccpulse-tickets"

W = "$window"


def build(rules: Sequence[AlertRule], windows: Sequence[str]) -> panels.Dashboard:
    board = (
        panels.base_dashboard(
            UID,
            "ccpulse / Tickets",
            "Ticket backlog, age buckets, SLA breaches, inflow and outflow, CSAT / NPS / CES.",
            refresh="30s",
        )
        .with_variable(panels.queue_variable(multi=True))
        .with_variable(panels.window_variable(list(windows), "1h"))
    )
    board = board.with_row(panels.Row("Backlog now"))
    for field in ("backlog", "tickets_past_sla", "tickets_at_risk"):
        board = board.with_panel(
            panels.kpi_stat(
                field,
                [query(promql.total(promql.live(field)), instant=True)],
                width=6,
                height=5,
                value_size=64,
                note="Sum over the queues shown.",
            )
        )
    board = board.with_panel(
        panels.kpi_stat(
            "oldest_ticket_age_seconds",
            [query(f"max({promql.live('oldest_ticket_age_seconds')})", instant=True)],
            width=6,
            height=5,
            value_size=64,
            note="The oldest over the queues shown.",
        )
    )
    board = (
        board.with_panel(
            panels.bar_gauge(
                "Backlog per queue",
                [query(promql.live("backlog"), legend="{{queue}}", instant=True)],
                bands=kpi_bands(rules, "backlog", None),
            )
        )
        .with_panel(
            panels.bar_gauge(
                "Backlog by age",
                [query(promql.live_by("backlog_by_age", "age"), legend="{{age}}", instant=True)],
                description="lt_24h, 24h_48h, gt_48h since creation (docs/kpis.md#backlog_by_age).",
            )
        )
        .with_panel(
            panels.bar_gauge(
                "Backlog by priority",
                [
                    query(
                        promql.live_by("backlog_by_priority", "priority"),
                        legend="{{priority}}",
                        instant=True,
                    )
                ],
            )
        )
    )
    board = board.with_row(panels.Row("SLA"))
    board = board.with_panel(
        panels.timeseries_panel(
            "Tickets past SLA per queue",
            [query(promql.live("tickets_past_sla"), legend="{{queue}}")],
            bands=kpi_bands(rules, "tickets_past_sla", None),
        )
    ).with_panel(
        panels.timeseries_panel(
            "Tickets at risk per queue",
            [query(promql.live("tickets_at_risk"), legend="{{queue}}")],
        )
    )
    for state in ("breached", "at_risk"):
        board = board.with_panel(
            panels.timeseries_panel(
                f"Business-hours SLAs {state.replace('_', ' ')} (sum over the queues shown)",
                [
                    query(promql.total(promql.live(field)), legend=kpi(field).label, ref=ref)
                    for field, ref in (
                        (f"first_reply_sla_{state}", "A"),
                        (f"resolution_sla_{state}", "B"),
                    )
                ],
                description="First reply and resolution targets in the queue's calendar, "
                "paused while pending (docs/kpis.md#business-hours-ticket-slas).",
            )
        )
    board = board.with_row(panels.Row("Inflow and outflow over $window"))
    board = (
        board.with_panel(
            panels.timeseries_panel(
                "Created, solved, reopened ($window)",
                [
                    query(promql.total(promql.window(field, W)), legend=kpi(field).label, ref=ref)
                    for field, ref in (
                        ("tickets_created", "A"),
                        ("tickets_solved", "B"),
                        ("tickets_reopened", "C"),
                    )
                ],
                description="Inflow (created here, moves excluded) and outflow (solved events).",
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Backlog per queue",
                [query(promql.live("backlog"), legend="{{queue}}")],
            )
        )
        .with_panel(
            panels.kpi_stat(
                "first_reply_seconds",
                [query(promql.window("first_reply_seconds", W), legend="{{queue}}", instant=True)],
                window=W,
                width=12,
                height=5,
                name_and_value=True,
            )
        )
        .with_panel(
            panels.kpi_stat(
                "reopen_rate",
                [query(promql.window("reopen_rate", W), legend="{{queue}}", instant=True)],
                window=W,
                width=12,
                height=5,
                name_and_value=True,
            )
        )
    )
    board = board.with_row(panels.Row("Customer surveys over $window"))
    for field, decimals in (("csat", 1), ("nps", 0), ("ces", 2)):
        board = board.with_panel(
            panels.kpi_stat(
                field,
                [query(promql.window(field, W), legend="{{queue}}", instant=True)],
                width=8,
                height=5,
                name_and_value=True,
                decimals=decimals,
            )
        )
    board = board.with_panel(
        panels.timeseries_panel(
            "Survey responses ($window)",
            [
                query(promql.total(promql.window(field, W)), legend=kpi(field).label, ref=ref)
                for field, ref in (("csat_responses", "A"), ("nps_responses", "B"))
            ],
            width=24,
        )
    )
    return board
