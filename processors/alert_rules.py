"""Alert rules: which KPI, over which window, crossing which threshold, for how long.

A rule is evaluated per queue it matches (shell patterns in ``queues``) on the
:class:`processors.snapshot.QueueSnapshot` the engine reports. It *fires* when the KPI is past
``fire`` (``above``: value > fire; ``below``: value < fire) continuously for ``for_seconds``, and
*clears* only once the KPI is back past ``clear`` (``above``: value <= clear). ``clear`` sits on
the healthy side of ``fire``: the gap between them is the hysteresis that stops a KPI hovering
around one threshold from paging and un-paging every few seconds (Prometheus cannot do this).

``min_volume`` keeps a rule quiet while the window holds fewer than N calls or tickets of
``volume_kpi`` (by default the KPI's own denominator), so one abandoned call out of two in a
quiet minute never pages anybody.

Everything a rule can get wrong is checked by :func:`validate_rules` when the configuration is
loaded (unknown KPI, a window that is not kept, ``clear`` on the wrong side of ``fire``, a rate
threshold written as a percentage...), and the error names the rule. The state machine that
uses the rules lives in :mod:`processors.alerts`, the built-in rules in
:mod:`processors.default_alert_rules`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Literal

from msgspec import Meta, Struct, field

from processors.kpis import KPIS, RATE_KPIS, SECONDS_KPIS, title_of
from processors.settings import parse_window
from processors.snapshot import LiveKpis, QueueSnapshot, WindowKpis

__all__ = [
    "SUMMARY_FIELDS",
    "VOLUME_KPIS",
    "AlertRule",
    "Direction",
    "RuleError",
    "Severity",
    "default_volume_kpi",
    "format_value",
    "is_live_kpi",
    "merge_rules",
    "render_summary",
    "rule_value",
    "rule_volume",
    "summary_values",
    "validate_rules",
    "window_phrase",
]

Direction = Literal["above", "below"]
Severity = Literal["warning", "critical"]
NonNegative = Annotated[float, Meta(ge=0)]

DEFAULT_SUMMARY = "{title} on {queue} is {value}{window_phrase} (threshold {threshold})"
"""``Abandonment on billing is 14 % over 15 min (threshold 10 %)``."""


class AlertRule(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One alerting rule, as written in the ``alerts.rules`` list of the configuration."""

    name: str
    """Identifier (letters, digits, ``_``): the ``rule`` label and the Prometheus alert name."""
    kpi: str
    """A field of WindowKpis (needs ``window``) or of LiveKpis (``window`` must be omitted)."""
    fire: float
    """Threshold that starts the alert (rates are fractions: 0.1 = 10 %)."""
    clear: float
    """Threshold that ends it; on the healthy side of ``fire`` (equal = no hysteresis)."""
    window: str | None = None
    """A configured window label (``5m``, ``15m``, ``1h``, ``today``...); None for live gauges."""
    direction: Direction = "above"
    queues: list[str] = field(default_factory=lambda: ["*"])
    """Shell patterns of the queues the rule applies to."""
    for_seconds: NonNegative = 0.0
    """How long the condition must hold before the alert fires (pending meanwhile)."""
    min_volume: NonNegative = 0.0
    """No evaluation while ``volume_kpi`` over the window is below this."""
    volume_kpi: str | None = None
    """What counts as volume; default: the KPI's own denominator (see VOLUME_KPIS)."""
    severity: Severity = "warning"
    escalate_after_seconds: Annotated[float, Meta(gt=0)] | None = None
    """A warning still firing after this long becomes critical."""
    cooldown_seconds: NonNegative = 0.0
    """After resolving, the alert cannot fire again for this long (anti-flapping)."""
    runbook_url: str | None = None
    summary: str = DEFAULT_SUMMARY
    """Template; placeholders: see SUMMARY_FIELDS."""
    labels: dict[str, str] = field(default_factory=dict)
    """Extra labels passed to receivers (team, service...)."""

    def is_past(self, value: float, threshold: float) -> bool:
        """True if ``value`` is on the unhealthy side of ``threshold`` (strictly)."""
        return value > threshold if self.direction == "above" else value < threshold


class RuleError(ValueError):
    """A bad rule: ``index`` in the list, ``rule`` name, the offending ``field`` and why."""

    def __init__(self, index: int, rule: str, field_name: str, reason: str) -> None:
        self.index, self.rule, self.field, self.reason = index, rule, field_name, reason
        super().__init__(f"rule {rule!r}: {field_name}: {reason}")


# -- KPI metadata ---------------------------------------------------------------------------------

_DICT_FIELDS = frozenset(k.name for k in KPIS if k.breakdown is not None)
_LIVE = frozenset(f for f in LiveKpis.__struct_fields__ if f not in _DICT_FIELDS)
_WINDOW = frozenset(WindowKpis.__struct_fields__)

# Volumes that are not a single field: the denominators of the exit-family rates.
_DERIVED_VOLUMES: dict[str, Callable[[WindowKpis], float]] = {
    "exits": lambda w: float(w.answered + w.abandoned + w.other_exits),
    "attempts": lambda w: float(w.entered + w.blocked),
}
VOLUME_KPIS: frozenset[str] = frozenset(
    {*_DERIVED_VOLUMES, *(f for f in _WINDOW if isinstance(getattr(WindowKpis(), f), int))}
)
"""Valid ``volume_kpi`` values: a count field of WindowKpis, or ``exits`` (answered + abandoned +
other exits, the denominator of abandon rate and service level) or ``attempts`` (entered +
blocked, the denominator of blocked rate)."""

_DEFAULT_VOLUME: dict[str, str] = {
    "abandon_rate": "exits",
    "service_level": "exits",
    "service_level_offered": "exits",
    "service_level_ignore_abandons": "exits",
    "service_level_abandons_positive": "exits",
    "service_level_answered": "answered",
    "asa_seconds": "answered",
    "blocked_rate": "attempts",
    "avg_abandon_seconds": "abandoned",
    "aht_seconds": "handled",
    "reopen_rate": "tickets_solved",
    "first_reply_seconds": "first_replies",
    "csat": "csat_responses",
    "nps": "nps_responses",
    "ces": "ces_responses",
    "fcr": "contacts",
}

SUMMARY_FIELDS = frozenset(
    {
        "rule",
        "queue",
        "kpi",
        "title",
        "value",
        "threshold",
        "clear",
        "window",
        "window_phrase",
        "direction",
        "severity",
    }
)
"""Placeholders a summary template may use, e.g. ``{title} on {queue} is {value}``."""


def is_live_kpi(kpi: str) -> bool:
    return kpi in _LIVE


def default_volume_kpi(kpi: str) -> str | None:
    """The count a rule on ``kpi`` measures its volume with, when ``volume_kpi`` is not set."""
    return _DEFAULT_VOLUME.get(kpi)


def rule_value(rule: AlertRule, snapshot: QueueSnapshot) -> float | None:
    """The rule's KPI in ``snapshot``; None when the rate has no denominator or no window."""
    if rule.window is None:
        live = getattr(snapshot.live, rule.kpi)
        return None if live is None else float(live)  # staffing gauges are nullable
    kpis = snapshot.windows.get(rule.window)
    if kpis is None:
        return None
    value = getattr(kpis, rule.kpi)
    return None if value is None else float(value)


def rule_volume(rule: AlertRule, snapshot: QueueSnapshot) -> float | None:
    """The volume compared with ``min_volume``; None when the rule has no volume to check."""
    volume_kpi = rule.volume_kpi or default_volume_kpi(rule.kpi)
    if volume_kpi is None or rule.window is None:
        return None
    kpis = snapshot.windows.get(rule.window)
    if kpis is None:
        return 0.0
    derived = _DERIVED_VOLUMES.get(volume_kpi)
    return derived(kpis) if derived is not None else float(getattr(kpis, volume_kpi))


def format_value(kpi: str, value: float | None) -> str:
    """A KPI value for people: ``14 %``, ``95 s``, ``6 min 5 s``, ``12``."""
    if value is None:
        return "n/a"
    if kpi in RATE_KPIS:
        percent = value * 100
        return f"{percent:.0f} %" if abs(percent - round(percent)) < 0.05 else f"{percent:.1f} %"
    if kpi in SECONDS_KPIS:
        seconds = round(value)
        if seconds < 120:
            return f"{seconds} s"
        minutes, rest = divmod(seconds, 60)
        if minutes < 120:
            return f"{minutes} min {rest} s" if rest else f"{minutes} min"
        return f"{minutes // 60} h {minutes % 60} min"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.1f}"


def window_phrase(window: str | None) -> str:
    """`` over 15 min``, `` today``, or nothing for a live gauge."""
    if window is None:
        return ""
    if window == "today":
        return " today"
    number, unit = window[:-1], window[-1]
    words = {"s": "s", "m": "min", "h": "h", "d": "d"}
    return f" over {number} {words[unit]}"


# -- validation -----------------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_rule(rule: AlertRule, windows: Sequence[str] | None) -> tuple[str, str] | None:
    """(field, reason) of the first problem of one rule, or None."""
    if not _NAME.match(rule.name):
        return "name", "use letters, digits and _ only, not starting with a digit"
    if rule.kpi in _DICT_FIELDS:
        return "kpi", f"{rule.kpi!r} is a breakdown; alert on one of its totals instead"
    live, windowed = rule.kpi in _LIVE, rule.kpi in _WINDOW
    if not live and not windowed:
        known = ", ".join(sorted(_LIVE | _WINDOW))
        return "kpi", f"unknown KPI {rule.kpi!r} (known: {known})"
    if live and rule.window is not None:
        return "window", f"{rule.kpi!r} is a live gauge: omit the window"
    if windowed and rule.window is None:
        return "window", f"{rule.kpi!r} is a window KPI: give a window (e.g. 15m)"
    if rule.window is not None:
        try:
            parse_window(rule.window)
        except ValueError as exc:
            return "window", str(exc)
        if windows is not None and rule.window not in windows:
            kept = ", ".join(windows)
            return "window", f"unknown window {rule.window!r}: the engine keeps {kept}"
    for name, threshold in (("fire", rule.fire), ("clear", rule.clear)):
        if threshold != threshold:  # NaN
            return name, "must be a number"
        if rule.kpi in RATE_KPIS and not 0.0 <= threshold <= 1.0:
            return name, f"{rule.kpi} is a fraction in 0..1 (10 % is 0.1), got {threshold:g}"
    if rule.direction == "above" and rule.clear > rule.fire:
        return "clear", (
            f"clear ({rule.clear:g}) must be <= fire ({rule.fire:g}) for direction above"
        )
    if rule.direction == "below" and rule.clear < rule.fire:
        return "clear", (
            f"clear ({rule.clear:g}) must be >= fire ({rule.fire:g}) for direction below"
        )
    if not rule.queues or any(not p for p in rule.queues):
        return "queues", "give at least one non-empty queue pattern"
    if rule.volume_kpi is not None and rule.volume_kpi not in VOLUME_KPIS:
        known = ", ".join(sorted(VOLUME_KPIS))
        return "volume_kpi", f"unknown volume {rule.volume_kpi!r} (known: {known})"
    if rule.min_volume > 0:
        if rule.window is None:
            return "min_volume", "only window KPIs have a volume; omit it for a live gauge"
        if (rule.volume_kpi or default_volume_kpi(rule.kpi)) is None:
            return "volume_kpi", f"{rule.kpi!r} has no natural volume: set volume_kpi"
    if rule.escalate_after_seconds is not None and rule.severity == "critical":
        return "escalate_after_seconds", "only a warning can escalate (to critical)"
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(rule.summary) if name}
    except ValueError as exc:
        return "summary", f"bad template: {exc}"
    unknown = fields - SUMMARY_FIELDS
    if unknown:
        allowed = ", ".join(sorted(SUMMARY_FIELDS))
        return "summary", f"unknown placeholder {sorted(unknown)[0]!r} (use {allowed})"
    return None


def validate_rules(rules: Sequence[AlertRule], windows: Sequence[str] | None = None) -> None:
    """Raise :class:`RuleError` for the first bad rule. ``windows``: the engine's windows (None:
    any well-formed window is accepted)."""
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        problem = _check_rule(rule, windows)
        if problem is not None:
            raise RuleError(index, rule.name, *problem)
        if rule.name in seen:
            raise RuleError(index, rule.name, "name", "two rules have this name")
        seen.add(rule.name)


def merge_rules(
    defaults: Sequence[AlertRule], own: Sequence[AlertRule], disabled: Sequence[str] = ()
) -> list[AlertRule]:
    """The default rules minus ``disabled``, each replaced by an own rule of the same name, then
    the other own rules."""
    by_name = {rule.name: rule for rule in own}
    merged = [by_name.pop(r.name, r) for r in defaults if r.name not in disabled]
    return merged + [r for r in own if r.name in by_name]


def summary_values(
    rule: AlertRule, queue: str, value: float | None, severity: str
) -> Mapping[str, str]:
    """The placeholder values of a summary template."""
    return {
        "rule": rule.name,
        "queue": queue,
        "kpi": rule.kpi,
        "title": title_of(rule.kpi),
        "value": format_value(rule.kpi, value),
        "threshold": format_value(rule.kpi, rule.fire),
        "clear": format_value(rule.kpi, rule.clear),
        "window": rule.window or "now",
        "window_phrase": window_phrase(rule.window),
        "direction": rule.direction,
        "severity": severity,
    }


def render_summary(rule: AlertRule, queue: str, value: float | None, severity: str) -> str:
    """The rule's summary template filled in for ``queue`` (validated templates never fail)."""
    return rule.summary.format_map(summary_values(rule, queue, value, severity))
