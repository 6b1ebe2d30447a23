"""The *Wallboard*: one row of big tiles per queue, for a wall screen.

The tiles are :data:`processors.wallboard.TILES`, the same ones the worker's built-in page shows;
each windowed tile shows the window its alert rule watches, and every tile a rule watches is
coloured by that rule's bands (:mod:`processors.thresholds`). The row repeats for each queue of
the ``queue`` variable (all of them by default). Under the big tiles, in the same repeated row,
the smaller :data:`processors.wallboard.DETAIL_TILES` (callbacks, flow-outs and transfers,
self-service, business-hours ticket SLAs): the built-in queue view's second row.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashboards import panels, promql
from dashboards.panels import query
from processors.alert_rules import AlertRule
from processors.thresholds import kpi_bands
from processors.wallboard import DETAIL_TILES, TILES, Tile, tile_window

__all__ = ["UID", "build", "tile_expr"]

UID = "ccpulse-wallboard"


def tile_expr(tile: Tile, window: str | None) -> str:
    """The per-queue query behind a tile."""
    if tile.kpi == "agents_available":
        return promql.agents_available()
    if window is None:
        return promql.live(tile.kpi)
    return promql.window(tile.kpi, window)


def build(rules: Sequence[AlertRule], windows: Sequence[str]) -> panels.Dashboard:
    board = panels.base_dashboard(
        UID,
        "ccpulse / Wallboard",
        "Per queue: calls waiting, oldest wait, service level, abandonment, ASA, agents "
        "available, backlog; below them callbacks, flow-outs, transfers, self-service and the "
        "business-hours ticket SLAs. Green / amber / red come from the alert rules: red is past "
        "the rule's fire threshold, amber past its clear threshold.",
        refresh="5s",
    ).with_variable(panels.queue_variable(multi=True))
    board = board.with_row(panels.Row("All queues"))
    board = board.with_panel(
        panels.table_panel(
            "Firing alerts",
            [
                query(
                    promql.firing_alerts(),
                    instant=True,
                )
            ],
            width=12,
            height=5,
            no_value="No alert firing",
            description="ccpulse alerts firing now (ccpulse_alert_firing).",
        )
    )
    board = board.with_panel(
        panels.stat_panel(
            "Calls waiting, all queues",
            [query(promql.total(promql.live("calls_waiting")), instant=True)],
            width=4,
            height=5,
            value_size=72,
        )
    )
    board = board.with_panel(
        panels.stat_panel(
            "Agents available, all queues",
            [query(promql.total(promql.agents_available()), instant=True)],
            width=4,
            height=5,
            value_size=72,
        )
    )
    board = board.with_panel(
        panels.stat_panel(
            "Ticket backlog, all queues",
            [query(promql.total(promql.live("backlog")), instant=True)],
            width=4,
            height=5,
            value_size=72,
        )
    )
    board = board.with_row(panels.Row("$queue").repeat("queue"))
    for tiles, height, value_size in ((TILES, 6, 64), (DETAIL_TILES, 4, 36)):
        width = 24 // len(tiles)
        for tile in tiles:
            window = tile_window(tile, rules, windows)
            board = board.with_panel(
                panels.kpi_stat(
                    tile.kpi,
                    [query(tile_expr(tile, window), legend="{{queue}}", instant=True)],
                    window=window,
                    bands=kpi_bands(rules, tile.kpi, window),
                    width=width,
                    height=height,
                    value_size=value_size,
                )
            )
    return board
