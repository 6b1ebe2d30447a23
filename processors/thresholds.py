"""Colour bands for a KPI, taken from the alert rules, so a wallboard's colour means one thing.

A tile is **red** when its value is past a rule's ``fire`` threshold (the alert condition),
**amber** when it is past ``clear`` but not ``fire`` (the hysteresis band: not healthy enough for
a firing alert to clear), and **green** otherwise. A KPI no rule watches has no colour: a green
tile would claim a judgement nobody configured.

The same bands drive the Grafana stat panels (``dashboards/``) and the worker's built-in
wallboard page (``streams/views/wallboard/``), both computed from the same
:class:`processors.alert_rules.AlertRule` list, so the two can never disagree about a threshold.
Grafana colours a step from ``value >= threshold``; the rules compare strictly, so the two agree
everywhere except at a value exactly equal to an ``above`` threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Literal

from msgspec import Struct

from processors.alert_rules import AlertRule, Direction

__all__ = [
    "Colour",
    "KpiBands",
    "band_steps",
    "colour_of",
    "kpi_bands",
    "preferred_window",
]

Colour = Literal["green", "amber", "red", "none"]


class KpiBands(Struct, frozen=True, kw_only=True):
    """Where a KPI turns amber and red, from the rules that watch it."""

    kpi: str
    window: str | None
    direction: Direction
    amber: float
    """Past this (strictly) the tile is amber: the most sensitive ``clear`` of the rules."""
    red: float
    """Past this (strictly) the tile is red: the most sensitive ``fire`` of the rules."""
    rules: tuple[str, ...]
    """The names of the rules the bands come from."""


def _applies(rule: AlertRule, queue: str | None) -> bool:
    """``queue`` None means "every queue": only rules with a bare ``*`` pattern count."""
    if queue is None:
        return "*" in rule.queues
    return any(fnmatchcase(queue, pattern) for pattern in rule.queues)


def preferred_window(
    rules: Sequence[AlertRule], kpi: str, windows: Sequence[str], fallback: str = "15m"
) -> str:
    """The window a wallboard shows ``kpi`` over: the first all-queue rule's window on that KPI
    (so the colour bands fit the number shown), else ``fallback``, else the first window kept."""
    for rule in rules:
        window = rule.window
        if rule.kpi == kpi and window is not None and window in windows and _applies(rule, None):
            return window
    if fallback in windows or not windows:
        return fallback
    return windows[0]


def kpi_bands(
    rules: Sequence[AlertRule], kpi: str, window: str | None, queue: str | None = None
) -> KpiBands | None:
    """The bands of ``kpi`` over ``window`` for ``queue`` (None: rules for every queue).

    Several rules on the same KPI combine to the most sensitive thresholds: the first one's
    direction decides, rules pointing the other way are ignored.
    """
    matching = [r for r in rules if r.kpi == kpi and r.window == window and _applies(r, queue)]
    if not matching:
        return None
    direction = matching[0].direction
    same = [r for r in matching if r.direction == direction]
    pick = min if direction == "above" else max
    return KpiBands(
        kpi=kpi,
        window=window,
        direction=direction,
        amber=pick(r.clear for r in same),
        red=pick(r.fire for r in same),
        rules=tuple(r.name for r in same),
    )


def colour_of(value: float | None, bands: KpiBands | None) -> Colour:
    """The colour of ``value``; ``none`` without bands or without a value."""
    if bands is None or value is None:
        return "none"
    if bands.direction == "above":
        if value > bands.red:
            return "red"
        return "amber" if value > bands.amber else "green"
    if value < bands.red:
        return "red"
    return "amber" if value < bands.amber else "green"


def band_steps(bands: KpiBands) -> list[tuple[float | None, Colour]]:
    """Grafana-style threshold steps, lowest first: ``(None, base colour), (from, colour)...``.

    An amber band of zero width (``clear == fire``) is left out.
    """
    if bands.direction == "above":
        steps: list[tuple[float | None, Colour]] = [(None, "green")]
        if bands.amber < bands.red:
            steps.append((bands.amber, "amber"))
        steps.append((bands.red, "red"))
        return steps
    steps = [(None, "red")]
    if bands.red < bands.amber:
        steps.append((bands.red, "amber"))
        steps.append((bands.amber, "green"))
    else:
        steps.append((bands.red, "green"))
    return steps
