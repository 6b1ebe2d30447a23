"""Translate ccpulse alert rules into a Prometheus alerting-rules file, as far as PromQL can.

What carries over: the KPI and window (``ccpulse_window_<kpi>{window="15m"}`` or the live
``ccpulse_queue_<kpi>``), the direction and ``fire`` threshold, the queue patterns (as an
anchored regex on the ``queue`` label), ``for_seconds`` (``for:``), ``min_volume`` (an ``and``
with the volume series), severity, extra labels, runbook and summary (as a Prometheus template).
Escalation becomes a second alert of the same name with ``severity: critical`` and ``for:``
lengthened by ``escalate_after_seconds``.

What does not: **hysteresis** (Prometheus resolves as soon as the ``fire`` condition is false;
``clear`` is ignored) and the **cooldown** (no memory of past resolutions). Each exported rule
says so in a comment. The metric names come from streams/views/metrics_catalog.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from processors.alert_rules import AlertRule, default_volume_kpi, format_value, window_phrase
from processors.kpis import RATE_KPIS, SECONDS_KPIS, title_of
from streams.views.metrics_catalog import metric_names

__all__ = ["export_rules", "glob_to_regex", "rule_expr"]

GROUP = "ccpulse-alerts"


def glob_to_regex(pattern: str) -> str:
    """A shell pattern as an RE2 regex (Prometheus anchors it): ``sales-*`` -> ``sales-.*``."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(r"\[")
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(_escape(char))
        i += 1
    return "".join(out)


def _escape(char: str) -> str:
    return "\\" + char if char in r".^$+{}()|\/" else char


def _selector(metric: str, rule: AlertRule) -> str:
    if metric not in metric_names():
        raise ValueError(f"rule {rule.name!r}: metric {metric} is not exported")
    matchers = []
    if rule.queues != ["*"]:
        regex = "|".join(glob_to_regex(p) for p in rule.queues)
        matchers.append(f'queue=~"{_quote(regex)}"')
    if rule.window is not None:
        matchers.append(f'window="{rule.window}"')
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _volume_expr(rule: AlertRule) -> str | None:
    volume = rule.volume_kpi or default_volume_kpi(rule.kpi)
    if rule.min_volume <= 0 or volume is None or rule.window is None:
        return None
    parts = {
        "exits": ["answered", "abandoned", "other_exits"],
        "attempts": ["entered", "blocked"],
    }.get(volume, [volume])
    terms = [_selector(f"ccpulse_window_{field}", rule) for field in parts]
    summed = " + ".join(terms)
    return (
        f"({summed}) >= {rule.min_volume:g}"
        if len(terms) > 1
        else f"{summed} >= {rule.min_volume:g}"
    )


def rule_expr(rule: AlertRule) -> str:
    """The PromQL condition of ``rule`` (``fire`` side, with the volume guard)."""
    prefix = "ccpulse_queue_" if rule.window is None else "ccpulse_window_"
    operator = ">" if rule.direction == "above" else "<"
    expr = f"{_selector(prefix + rule.kpi, rule)} {operator} {rule.fire:g}"
    volume = _volume_expr(rule)
    if volume is not None:
        expr = f"{expr}\nand on (queue, window)\n{volume}"
    return expr


def _value_template(kpi: str) -> str:
    if kpi in RATE_KPIS:
        return "{{ $value | humanizePercentage }}"
    if kpi in SECONDS_KPIS:
        return "{{ $value | humanizeDuration }}"
    return "{{ $value }}"


def _summary(rule: AlertRule, severity: str) -> str:
    """The rule's summary template with Prometheus templating for the per-alert parts."""
    values = {
        "rule": rule.name,
        "queue": "{{ $labels.queue }}",
        "kpi": rule.kpi,
        "title": title_of(rule.kpi),
        "value": _value_template(rule.kpi),
        "threshold": format_value(rule.kpi, rule.fire),
        "clear": format_value(rule.kpi, rule.clear),
        "window": rule.window or "now",
        "window_phrase": window_phrase(rule.window),
        "direction": rule.direction,
        "severity": severity,
    }
    return rule.summary.format_map(values)


def _seconds(value: float) -> str:
    return f"{round(value)}s"


def _entries(rule: AlertRule) -> list[dict[str, object]]:
    expr = rule_expr(rule)
    entries = []
    stages: list[tuple[str, float]] = [(rule.severity, rule.for_seconds)]
    if rule.escalate_after_seconds is not None:
        stages.append(("critical", rule.for_seconds + rule.escalate_after_seconds))
    for severity, for_seconds in stages:
        entry: dict[str, object] = {"alert": rule.name, "expr": expr}
        if for_seconds > 0:
            entry["for"] = _seconds(for_seconds)
        entry["labels"] = {**rule.labels, "severity": severity, "rule": rule.name}
        annotations = {
            "summary": _summary(rule, severity),
            "description": (
                f"{rule.kpi} ({rule.window or 'live'}) {'>' if rule.direction == 'above' else '<'}"
                f" {rule.fire:g}; ccpulse clears it at {rule.clear:g} (not expressible here)."
            ),
        }
        if rule.runbook_url:
            annotations["runbook_url"] = rule.runbook_url
        entry["annotations"] = annotations
        entries.append(entry)
    return entries


def _comment(rule: AlertRule) -> list[str]:
    lines = [f"# {rule.name}: {rule.kpi} {rule.direction} {rule.fire:g}"]
    missing = []
    if rule.clear != rule.fire:
        missing.append(f"hysteresis (ccpulse clears at {rule.clear:g}; here it resolves at once)")
    if rule.cooldown_seconds > 0:
        missing.append(f"cooldown of {rule.cooldown_seconds:g} s")
    if missing:
        lines.append("#   not expressible in PromQL: " + "; ".join(missing))
    if rule.escalate_after_seconds is not None:
        lines.append(
            f"#   escalation: a second alert with severity critical after "
            f"{rule.for_seconds + rule.escalate_after_seconds:g} s (the warning keeps firing too:"
            " inhibit it in Alertmanager)"
        )
    return lines


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL with ``and``) as literal blocks, readable in review."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def export_rules(rules: Sequence[AlertRule], source: str = "the built-in defaults") -> str:
    """The text of a Prometheus rules file equivalent to ``rules`` where PromQL allows."""
    lines = [
        f"# Prometheus alerting rules generated by `ccpulse rules export` from {source}.",
        "# Equivalent to ccpulse's in-stream alerts as far as PromQL can express them: the",
        "# `clear` threshold (hysteresis) and the cooldown are NOT reproduced; Prometheus",
        "# resolves an alert as soon as its condition is false. See docs/alerts.md.",
        "groups:",
        f"  - name: {GROUP}",
        "    rules:",
    ]
    if not rules:
        lines[-1] = "    rules: []"
    for rule in rules:
        lines.extend("      " + line for line in _comment(rule))
        for entry in _entries(rule):
            text = yaml.dump(
                [entry], Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True
            )
            lines.extend("      " + line for line in text.rstrip("\n").splitlines())
    return "\n".join(lines) + "\n"
