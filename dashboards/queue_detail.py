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
from processors.thresholds import kpi_bands
from processors.wallboard import TILES, tile_window

__all__ = ["UID", "build"]

UID = "ccpulse-queue"

Q = promql.QUEUE_ONE

# (field, title, unit) shown once per window.
_BY_WINDOW: tuple[tuple[str, str, str], ...] = (
    ("service_level", "Service level", "rate"),
    ("abandon_rate", "Abandonment", "rate"),
    ("asa_seconds", "ASA", "seconds"),
    ("entered", "Calls entered", "count"),
    ("answered", "Answered", "count"),
    ("abandoned", "Abandoned", "count"),
    ("short_abandoned", "Short abandons", "count"),
    ("blocked_rate", "Blocked", "rate"),
    ("aht_seconds", "AHT", "seconds"),
    ("occupancy", "Occupancy", "rate"),
    ("avg_abandon_seconds", "Time to abandon", "seconds"),
    ("fcr", "First-contact resolution", "rate"),
)

_SERVICE_LEVELS = (
    ("service_level_offered", "offered"),
    ("service_level_answered", "answered"),
    ("service_level_ignore_abandons", "ignore abandons"),
    ("service_level_abandons_positive", "abandons positive"),
)


_STAFFING: tuple[tuple[str, str, str], ...] = (
    ("agents_required_erlang_c", "Agents required (Erlang C)", "none"),
    ("agents_required_erlang_a", "Agents required (Erlang A)", "none"),
    ("agents_short", "Agents short", "none"),
    ("predicted_service_level", "Predicted service level", "percentunit"),
    ("predicted_asa_seconds", "Predicted ASA", "s"),
    ("predicted_abandon_rate", "Predicted abandonment", "percentunit"),
)


def _staffing(board: panels.Dashboard) -> panels.Dashboard:
    """Erlang C / Erlang A figures (docs/staffing.md): absent when the inputs are too thin,
    Erlang A also when nobody abandoned (it then equals Erlang C)."""
    board = board.with_row(panels.Row("Staffing (Erlang C / Erlang A)"))
    for field, title, unit in _STAFFING:
        board = board.with_panel(
            panels.stat_panel(
                title,
                [query(promql.live(field, Q), instant=True)],
                unit=unit,
                width=4,
                height=4,
                decimals=1 if unit != "none" else 0,
                description=f"docs/staffing.md#{field}",
            )
        )
    return board.with_panel(
        panels.timeseries_panel(
            "Agents staffed and required",
            [
                query(promql.live("agents_staffed", Q), legend="staffed"),
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
        title = f"{tile.title} ({window})" if window else tile.title
        board = board.with_panel(
            panels.stat_panel(
                title,
                [query(expr, instant=True)],
                unit=panels.unit_for(tile.unit),
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
                query(promql.live("agents_staffed", Q), legend="staffed", ref="B"),
            ],
            width=16,
            height=7,
        )
    )
    board = _drilldown(board)
    board = board.with_row(panels.Row("Every window"))
    for field, title, unit in _BY_WINDOW:
        board = board.with_panel(
            panels.stat_panel(
                title,
                [query(promql.window_by(field, Q), legend="{{window}}", instant=True)],
                unit=panels.unit_for(unit),
                width=6,
                height=4,
                name_and_value=True,
                description=f"docs/kpis.md#{field}, one value per window.",
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
                    query(promql.window("service_level", "$window", Q), legend="service level"),
                    query(
                        promql.window("abandon_rate", "$window", Q), legend="abandonment", ref="B"
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
                    query(promql.window("asa_seconds", "$window", Q), legend="ASA"),
                    query(
                        promql.window("avg_abandon_seconds", "$window", Q),
                        legend="time to abandon",
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
                    query(promql.live("calls_waiting", Q), legend="calls waiting"),
                    query(promql.live("oldest_wait_seconds", Q), legend="oldest wait (s)", ref="B"),
                ],
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Calls over $window",
                [
                    query(promql.window(field, "$window", Q), legend=field, ref=ref)
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
    return board
