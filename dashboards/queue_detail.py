"""*Queue detail*: one queue (``queue`` variable), now, over every window, and its trends.

Drill-down from the wallboard: the live tiles, agents by state, each telephony KPI side by side
over every window the engine keeps (5 min ... today), and time series of the KPIs over the
window picked in the ``window`` variable.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashboards import panels, promql
from dashboards.panels import query
from dashboards.wallboard import tile_expr
from processors.alert_rules import AlertRule
from processors.kpis import STAFFING_FIELDS, kpi
from processors.thresholds import kpi_bands
from processors.wallboard import TILES, tile_window

__all__ = ["UID", "build"]

UID = "ccpulse-queue"

Q = promql.QUEUE_ONE

_BY_WINDOW: tuple[str, ...] = (
    "service_level",
    "abandon_rate",
    "asa_seconds",
    "entered",
    "answered",
    "abandoned",
    "short_abandoned",
    "blocked_rate",
    "aht_seconds",
    "occupancy",
    "avg_abandon_seconds",
    "fcr",
)
"""Shown once per window (titles and units from processors/kpis.py)."""

_SERVICE_LEVELS = (
    ("service_level_offered", "offered"),
    ("service_level_answered", "answered"),
    ("service_level_ignore_abandons", "ignore abandons"),
    ("service_level_abandons_positive", "abandons positive"),
)


def _staffing(board: panels.Dashboard) -> panels.Dashboard:
    """Erlang C / Erlang A figures (docs/staffing.md): absent when the inputs are too thin,
    Erlang A also when nobody abandoned (it then equals Erlang C)."""
    board = board.with_row(panels.Row("Staffing (Erlang C / Erlang A)"))
    for field in STAFFING_FIELDS:
        board = board.with_panel(
            panels.kpi_stat(
                field,
                [query(promql.live(field, Q), instant=True)],
                width=4,
                height=4,
                decimals=1 if kpi(field).unit != "agents" else 0,
            )
        )
    return board.with_panel(
        panels.timeseries_panel(
            "Agents staffed and required",
            [
                query(promql.live("agents_staffed", Q), legend=kpi("agents_staffed").label),
                query(promql.live("agents_required_erlang_c", Q), legend="Erlang C", ref="B"),
                query(promql.live("agents_required_erlang_a", Q), legend="Erlang A", ref="C"),
            ],
            width=24,
        )
    )


def _drilldown(board: panels.Dashboard) -> panels.Dashboard:
    """Agents by pause reason and the day's last abandoned calls (docs/kpis.md#drill-down),
    from Prometheus like every other panel: ``ccpulse_queue_agents_paused`` and the info-style
    ``ccpulse_queue_abandoned_call`` (one series per call, valued with its hang-up time)."""
    board = board.with_panel(
        panels.bar_gauge(
            "Agents by pause reason",
            [query(promql.paused_by_reason(Q), legend="{{reason}}", instant=True)],
            width=8,
            height=7,
        )
    ).with_panel(
        panels.timeseries_panel(
            "Agents paused over time",
            [query(promql.paused_by_reason(Q), legend="{{reason}}")],
            width=16,
            height=7,
        )
    )
    calls = panels.table_panel(
        "Last abandoned calls today",
        [query(promql.abandoned_calls(Q), instant=True)],
        width=24,
        height=8,
        no_value="No abandoned call today",
        description="The day's last abandoned calls (engine.drilldown_length of them): caller "
        "as privacy.caller_numbers shows it, wait before hanging up, and whether the caller "
        "got through later (recovered). The worker's own /api/queues/{queue} has the same.",
    )
    return board.with_panel(panels.abandoned_calls_columns(calls))


def build(rules: Sequence[AlertRule], windows: Sequence[str]) -> panels.Dashboard:
    board = (
        panels.base_dashboard(
            UID,
            "ccpulse / Queue detail",
            "One queue: live gauges, every KPI over every window, and trends over $window.",
        )
        .with_variable(panels.queue_variable(multi=False))
        .with_variable(panels.window_variable(list(windows), "15m"))
    )
    board = board.with_row(panels.Row("Now: $queue"))
    width = 24 // len(TILES)
    for tile in TILES:
        window = tile_window(tile, rules, windows)
        expr = tile_expr(tile, window).replace(promql.QUEUE_ALL, Q)
        board = board.with_panel(
            panels.kpi_stat(
                tile.kpi,
                [query(expr, instant=True)],
                window=window,
                bands=kpi_bands(rules, tile.kpi, window),
                width=width,
                height=5,
                value_size=48,
            )
        )
    board = board.with_panel(
        panels.bar_gauge(
            "Agents by state",
            [query(promql.live("agents", Q, by="state"), legend="{{state}}", instant=True)],
            width=8,
            height=7,
        )
    ).with_panel(
        panels.timeseries_panel(
            "Agents over time",
            [
                query(promql.live("agents", Q, by="state"), legend="{{state}}"),
                query(
                    promql.live("agents_staffed", Q), legend=kpi("agents_staffed").label, ref="B"
                ),
            ],
            width=16,
            height=7,
        )
    )
    board = _drilldown(board)
    board = board.with_row(panels.Row("Every window"))
    for field in _BY_WINDOW:
        board = board.with_panel(
            panels.kpi_stat(
                field,
                [query(promql.window_by(field, Q), legend="{{window}}", instant=True)],
                width=6,
                height=4,
                name_and_value=True,
                note="One value per window.",
            )
        )
    board = board.with_panel(
        panels.bar_gauge(
            "Service level variants ($window)",
            [
                query(promql.window(field, "$window", Q), legend=label, instant=True, ref=ref)
                for (field, label), ref in zip(_SERVICE_LEVELS, "ABCD", strict=True)
            ],
            unit="percentunit",
            width=24,
            height=6,
            description="All four service-level variants (docs/kpis.md#service_level), so the "
            "board can be reconciled with any vendor report.",
        )
    )
    board = _staffing(board)
    board = board.with_row(panels.Row("Trends over $window"))
    sl_window = tile_window(TILES[2], rules, windows)
    board = (
        board.with_panel(
            panels.timeseries_panel(
                "Service level and abandonment ($window)",
                [
                    query(
                        promql.window("service_level", "$window", Q),
                        legend=kpi("service_level").label,
                    ),
                    query(
                        promql.window("abandon_rate", "$window", Q),
                        legend=kpi("abandon_rate").label,
                        ref="B",
                    ),
                ],
                unit="percentunit",
                bands=kpi_bands(rules, "service_level", sl_window),
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "ASA and time to abandon ($window)",
                [
                    query(
                        promql.window("asa_seconds", "$window", Q), legend=kpi("asa_seconds").label
                    ),
                    query(
                        promql.window("avg_abandon_seconds", "$window", Q),
                        legend=kpi("avg_abandon_seconds").label,
                        ref="B",
                    ),
                ],
                unit="s",
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Calls waiting and oldest wait",
                [
                    query(promql.live("calls_waiting", Q), legend=kpi("calls_waiting").label),
                    query(
                        promql.live("oldest_wait_seconds", Q),
                        legend=kpi("oldest_wait_seconds").label,
                        ref="B",
                    ),
                ],
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Calls over $window",
                [
                    query(promql.window(field, "$window", Q), legend=kpi(field).label, ref=ref)
                    for field, ref in (
                        ("entered", "A"),
                        ("answered", "B"),
                        ("abandoned", "C"),
                        ("blocked", "D"),
                    )
                ],
            )
        )
    )
    return _by_channel(_around_the_queue(board))


_BY_CHANNEL: tuple[tuple[str, str], ...] = (
    ("offered", "none"),
    ("service_level", "percentunit"),
    ("asa_seconds", "s"),
    ("abandon_rate", "percentunit"),
)


def _by_channel(board: panels.Dashboard) -> panels.Dashboard:
    """The contact KPIs per channel (voice, chat, messaging...) over $window, for a queue that
    has seen two channels or more; the rest of the board is their channel total."""
    board = board.with_row(panels.Row("By channel over $window"))
    for field, unit in _BY_CHANNEL:
        board = board.with_panel(
            panels.bar_gauge(
                f"{kpi(field).title} by channel ($window)",
                [query(promql.channel(field, "$window", Q), legend="{{channel}}", instant=True)],
                unit=unit,
                width=6,
                height=6,
                description=panels.kpi_description(
                    field, "Per contact channel; empty for a queue of one channel."
                ),
            )
        )
    return board


def _around_the_queue(board: panels.Dashboard) -> panels.Dashboard:
    """Callbacks, flow-outs, transfers and the self-service flow (docs/kpis.md, Callbacks and
    transfers, Self-service (IVR)): where the calls that left without an answer or an abandon
    went, and what the flow in front of the queue kept."""
    board = board.with_row(panels.Row("Callbacks, transfers and self-service over $window"))
    return (
        board.with_panel(
            panels.timeseries_panel(
                "Callbacks, flow-outs and transfers ($window)",
                [
                    query(promql.window(field, "$window", Q), legend=kpi(field).label, ref=ref)
                    for field, ref in (
                        ("callbacks_requested", "A"),
                        ("flow_outs", "B"),
                        ("transfers", "C"),
                    )
                ],
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Callbacks pending, calls in the self-service flow",
                [
                    query(promql.live(field, Q), legend=kpi(field).label, ref=ref)
                    for field, ref in (("callbacks_pending", "A"), ("ivr_active", "B"))
                ],
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Callback success, IVR containment, transfer rate ($window)",
                [
                    query(promql.window(field, "$window", Q), legend=kpi(field).label, ref=ref)
                    for field, ref in (
                        ("callback_success_rate", "A"),
                        ("ivr_containment_rate", "B"),
                        ("transfer_rate", "C"),
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Time to callback and time in the self-service flow ($window)",
                [
                    query(promql.window(field, "$window", Q), legend=kpi(field).label, ref=ref)
                    for field, ref in (("time_to_callback_seconds", "A"), ("ivr_seconds", "B"))
                ],
                unit="s",
            )
        )
    )
