"""What a wallboard shows per queue: the tiles, their values, their colours.

One list, :data:`TILES`, feeds both the Grafana *Wallboard* dashboard (``dashboards/``) and the
worker's built-in page (``streams/views/wallboard/``), so the two show the same KPIs under the same
names. Windowed tiles show the window the alert rules watch (:func:`tile_window`), so a tile's
colour and the number on it describe the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from msgspec import Struct

from processors.alert_rules import AlertRule, format_value
from processors.kpis import Unit, kpi
from processors.snapshot import QueueSnapshot
from processors.thresholds import Colour, colour_of, kpi_bands, preferred_window

__all__ = ["DETAIL_TILES", "TILES", "Tile", "TileValue", "queue_tiles", "tile_window"]


class Tile(Struct, frozen=True):
    """One tile: a KPI of the registry (:mod:`processors.kpis`), which gives its title and unit."""

    kpi: str
    """A LiveKpis or WindowKpis field, or ``agents_available`` (``agents["available"]``)."""

    @property
    def key(self) -> str:
        """Stable id (the page's element ids, the Grafana panel titles' order)."""
        return self.kpi

    @property
    def title(self) -> str:
        return kpi(self.kpi).label

    @property
    def unit(self) -> Unit:
        return kpi(self.kpi).unit

    @property
    def windowed(self) -> bool:
        return kpi(self.kpi).kind == "window"


TILES: tuple[Tile, ...] = tuple(
    Tile(name)
    for name in (
        "calls_waiting",
        "oldest_wait_seconds",
        "service_level",
        "abandon_rate",
        "asa_seconds",
        "agents_available",
        "backlog",
        "tickets_past_sla",
    )
)


DETAIL_TILES: tuple[Tile, ...] = tuple(
    Tile(name)
    for name in (
        "callbacks_pending",
        "callbacks_requested",
        "callback_success_rate",
        "time_to_callback_seconds",
        "flow_outs",
        "transfer_rate",
        "ivr_containment_rate",
        "ivr_abandon_rate",
        "first_reply_sla_breached",
        "first_reply_sla_at_risk",
        "resolution_sla_breached",
        "resolution_sla_at_risk",
    )
)
"""The queue view's second row (issue 22): callbacks, flow-outs and transfers, self-service,
and the business-hours ticket SLAs, where a supervisor who opened the queue looks next."""


class TileValue(Struct, frozen=True, kw_only=True):
    key: str
    title: str
    unit: Unit
    """The registry's unit of the KPI (``rate``, ``seconds``, ``count``...); ``text`` is the
    value already formatted in it."""
    window: str | None
    value: float | None
    """None when the KPI has no denominator in the window (shown as a dash, never as 0)."""
    text: str
    colour: Colour
    firing: bool
    """An alert on this KPI is firing for the queue (red even inside the hysteresis band)."""
    threshold: str | None
    """The red threshold for people, e.g. ``< 70 %``; None when no rule watches the KPI."""


def tile_window(tile: Tile, rules: Sequence[AlertRule], windows: Sequence[str]) -> str | None:
    return preferred_window(rules, tile.kpi, windows) if tile.windowed else None


def _value(tile: Tile, snapshot: QueueSnapshot, window: str | None) -> float | None:
    if tile.kpi == "agents_available":
        return float(snapshot.live.agents.get("available", 0))
    if window is None:
        return float(getattr(snapshot.live, tile.kpi))
    kpis = snapshot.windows.get(window)
    value = None if kpis is None else getattr(kpis, tile.kpi)
    return None if value is None else float(value)


def queue_tiles(
    snapshot: QueueSnapshot,
    rules: Sequence[AlertRule],
    windows: Sequence[str],
    firing_kpis: Iterable[tuple[str, str | None]] = (),
    tiles: Sequence[Tile] = TILES,
) -> list[TileValue]:
    """The ``tiles`` of one queue. ``firing_kpis``: (kpi, window) of the alerts firing for it."""
    firing = set(firing_kpis)
    out: list[TileValue] = []
    for tile in tiles:
        window = tile_window(tile, rules, windows)
        value = _value(tile, snapshot, window)
        bands = kpi_bands(rules, tile.kpi, window, snapshot.queue)
        is_firing = (tile.kpi, window) in firing
        colour = "red" if is_firing else colour_of(value, bands)
        threshold = None
        if bands is not None:
            sign = ">" if bands.direction == "above" else "<"
            threshold = f"{sign} {format_value(tile.kpi, bands.red)}"
        out.append(
            TileValue(
                key=tile.key,
                title=tile.title,
                unit=tile.unit,
                window=window,
                value=value,
                text=format_value(tile.kpi, value),
                colour=colour,
                firing=is_firing,
                threshold=threshold,
            )
        )
    return out
