"""Typed settings for the KPI engine: per-queue thresholds and the windows to keep.

These are the pure part of the configuration. ``streams.config`` reads the YAML file, validates
it (naming the line and field of any mistake) and builds these objects; a replay, a test or a
benchmark can build them directly.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated, Literal

from msgspec import Meta, Struct, field

from processors.event_fields import Channel

__all__ = [
    "HOURS_RANGE",
    "SL_VARIANTS",
    "WEEKDAYS",
    "Calendar",
    "EngineSettings",
    "FlowOutChoice",
    "QueueSettings",
    "SlVariant",
    "parse_window",
    "window_label",
]

SlVariant = Literal["answered", "offered", "ignore_abandons", "abandons_positive"]
SL_VARIANTS: tuple[SlVariant, ...] = ("answered", "offered", "ignore_abandons", "abandons_positive")
FlowOutChoice = Literal["excluded", "against"]
"""How an exit of its own kind (a callback request, a transfer while queued) counts in the
queue's abandonment and service level: left out of both, or an exit not served within T
(docs/kpis.md#flow-outs-and-callbacks-in-service-level)."""

PositiveSeconds = Annotated[float, Meta(gt=0)]
NonNegativeSeconds = Annotated[float, Meta(ge=0)]


def _default_sla_hours() -> dict[str, float]:
    return {"urgent": 4.0, "high": 8.0, "normal": 24.0, "low": 72.0}


def _default_first_reply_hours() -> dict[str, float]:
    return {"urgent": 1.0, "high": 4.0, "normal": 8.0, "low": 24.0}


def _default_paused_statuses() -> list[str]:
    return ["pending"]


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_RANGE = r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
"""Working hours of one day, local wall-clock ``HH:MM-HH:MM`` (end ``24:00`` allowed): checked
by streams/config.py (which names the weekday; a pattern on the type would lose it)."""


def _default_week() -> dict[Weekday, list[str]]:
    return {day: ["09:00-17:00"] for day in WEEKDAYS[:5]}


class Calendar(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Business hours for ticket SLAs (processors/calendars.py, docs/kpis.md#business-hours)."""

    timezone: str = "UTC"
    """IANA zone the hours and holidays are read in."""
    hours: dict[Weekday, list[str]] = field(default_factory=_default_week)
    """Working hours per weekday; a day not listed has none."""
    holidays: list[str] = field(default_factory=list)
    """Local dates (``YYYY-MM-DD``) without working hours."""


class QueueSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Per-queue KPI parameters. Defaults follow the most common vendor defaults."""

    sl_threshold_seconds: PositiveSeconds = 20.0
    """Service-level threshold T: a call answered with wait <= T is within service level."""
    sl_threshold_by_channel: dict[Channel, PositiveSeconds] = field(default_factory=dict)
    """T per contact channel (``chat: 60``); a channel not listed uses ``sl_threshold_seconds``
    (processors/channels.py)."""
    sl_variant: SlVariant = "offered"
    """Which of the four service-level formulas is *the* service level (docs/kpis.md)."""
    sl_callbacks: FlowOutChoice = "excluded"
    """How callback requests count in abandonment and service level (docs/kpis.md)."""
    sl_flow_outs: FlowOutChoice = "excluded"
    """How calls transferred while queued count in abandonment and service level."""
    sl_target: Annotated[float, Meta(gt=0, lt=1)] = 0.8
    """Target fraction for service level (staffing and default alert thresholds)."""
    short_abandon_seconds: NonNegativeSeconds = 5.0
    """Abandons with wait strictly below this are short abandons, excluded from other counts."""
    timezone: str = "UTC"
    """IANA time zone for the ``today`` window (since local midnight)."""
    sla_hours: dict[str, PositiveSeconds] = field(default_factory=_default_sla_hours)
    """Ticket SLA target per priority, in hours from creation (used when no ``due_at``)."""
    at_risk_minutes: PositiveSeconds = 60.0
    """A ticket is *at risk* when its SLA is due within this many minutes."""
    fcr_window_hours: PositiveSeconds = 24.0
    """A contact is a repeat when the same customer contacted this queue within this window."""
    calendar: str | None = None
    """Name of an ``engine.calendars`` entry the ticket SLA clocks run in; None: around the
    clock."""
    first_reply_hours: dict[str, PositiveSeconds] = field(
        default_factory=_default_first_reply_hours
    )
    """First-reply target per priority, in hours of the calendar."""
    paused_statuses: list[str] = field(default_factory=_default_paused_statuses)
    """Ticket statuses during which the SLA clocks stop (waiting on the customer)."""
    sla_warning_ratio: Annotated[float, Meta(gt=0, lt=1)] = 0.8
    """A running SLA clock is *at risk* once this share of its target has elapsed."""

    def sl_threshold(self, channel: str) -> float:
        """The service-level threshold of a contact of ``channel``."""
        by_channel = self.sl_threshold_by_channel
        if by_channel:
            return by_channel.get(channel, self.sl_threshold_seconds)
        return self.sl_threshold_seconds

    def exits_against(self) -> tuple[bool, bool]:
        """Whether callback requests and flow-outs count against abandonment and service
        level (``sl_callbacks``, ``sl_flow_outs``), as processors/formulas.py takes them."""
        return self.sl_callbacks == "against", self.sl_flow_outs == "against"


def _default_windows() -> list[str]:
    return ["5m", "15m", "1h", "today"]


class EngineSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What the engine keeps and how it treats time."""

    windows: list[str] = field(default_factory=_default_windows)
    """Rolling windows (``30s``, ``5m``, ``1h``, ``24h``...) and optionally ``today``."""
    allowed_lateness_seconds: NonNegativeSeconds = 120.0
    """Events older than (newest event time of the queue - this) are dropped and counted."""
    max_open_call_seconds: PositiveSeconds = 4 * 3600.0
    """A call still waiting after this long is presumed lost (its exit never came) and dropped."""
    max_open_callback_seconds: PositiveSeconds = 48 * 3600.0
    """A callback requested and not completed after this long is presumed lost and dropped
    (``ccpulse_callbacks_lost_total``)."""
    closed_ticket_retention_hours: PositiveSeconds = 7 * 24.0
    """How long a solved or closed ticket is remembered (so a reopen finds it)."""
    staffing_window: str = "15m"
    """Rolling window whose arrival rate, AHT and patience feed the live staffing figures."""
    calendars: dict[str, Calendar] = field(default_factory=dict)
    """Business-hours calendars by name, assigned to queues by ``calendar``."""
    defaults: QueueSettings = field(default_factory=QueueSettings)
    queues: dict[str, QueueSettings] = field(default_factory=dict)
    """Per-queue overrides; keys may be shell-style patterns (``sales-*``)."""
    max_future_seconds: NonNegativeSeconds = 300.0
    """A worker refuses (dead letter, ``future_time``) an event dated more than this ahead of
    its wall clock, and no queue reports further ahead: one wrong source clock cannot move any
    queue's "now" (docs/kpis.md#time). ``ccpulse replay`` does not apply it."""
    max_queues: Annotated[int, Meta(ge=1)] = 2000
    """Most queues one worker (or replay) keeps state for; events of a further queue are refused
    (dead letter, ``unknown_queue``), so a flood of made-up queue names cannot exhaust memory,
    Prometheus series or the per-second alert pass."""
    max_channels: Annotated[int, Meta(ge=1, le=64)] = 8
    """Most contact channels one queue counts apart (docs/kpis.md#channels); a contact event of
    a further channel is refused (dead letter, ``unknown_channel``), so a source naming a new
    channel per contact cannot grow a queue's state and series without bound."""
    queues_allowed: list[str] | None = None
    """Shell-style patterns (``sales-*``) of the queue names accepted; None: any name. Events of
    another queue are refused (``unknown_queue``)."""
    max_remembered_ids: Annotated[int, Meta(ge=1)] = 100_000
    """Most event ids one queue remembers per family for de-duplication, besides the lateness
    horizon; past it the oldest are forgotten first (docs/kpis.md, Duplicates)."""

    drilldown_length: Annotated[int, Meta(ge=0, le=1000)] = 20
    """N: the last abandoned and the last blocked calls kept per queue for the drill-down
    (``/api/queues/{queue}``; processors/drilldown.py). 0 keeps none."""

    def for_queue(self, queue: str) -> QueueSettings:
        """The settings of ``queue``: its exact key, else the first matching pattern, else the
        defaults."""
        exact = self.queues.get(queue)
        if exact is not None:
            return exact
        for pattern, settings in self.queues.items():
            if fnmatch.fnmatchcase(queue, pattern):
                return settings
        return self.defaults

    def window_seconds(self) -> list[tuple[str, int | None]]:
        """(label, length in seconds) per configured window; ``today`` has length None."""
        return [(label, parse_window(label)) for label in self.windows]


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(label: str) -> int | None:
    """``"15m"`` -> 900; ``"today"`` -> None. Raises ValueError on anything else."""
    if label == "today":
        return None
    unit = label[-1:]
    number = label[:-1]
    if unit not in _UNITS or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"not a window: {label!r} (use e.g. 30s, 5m, 1h, 24h or today)")
    return int(number) * _UNITS[unit]


def window_label(seconds: int) -> str:
    """The canonical label of a rolling window length: 900 -> ``"15m"``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
