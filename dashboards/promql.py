"""The shapes of every PromQL query the dashboards use, correct with several workers.

Each queue's KPIs are exported by exactly one worker (the owner of its partition), but during a
rebalance two workers can briefly export the same queue, and a Prometheus may scrape a stopped
worker's last sample for a few seconds. So a per-queue gauge is always reduced with
``max by (queue)`` first (never summed across workers: that would double a queue), and totals
over queues are the ``sum`` of those per-queue maxima. Pipeline counters are per worker and are
summed across workers (``sum(rate(...))``).

Every metric name here must be in :mod:`streams.views.metrics_catalog` (the tests check it).
"""

from __future__ import annotations

__all__ = [
    "QUEUE_ALL",
    "QUEUE_ONE",
    "agents_available",
    "firing_alerts",
    "live",
    "live_by",
    "selector",
    "total",
    "window",
    "window_by",
]

QUEUE_ALL = 'queue=~"$queue"'
"""The matcher for a multi-value ``queue`` variable (also right for a single value)."""
QUEUE_ONE = 'queue="$queue"'
"""The matcher for a single-value ``queue`` variable."""


def selector(metric: str, *matchers: str) -> str:
    inside = ", ".join(m for m in matchers if m)
    return f"{metric}{{{inside}}}" if inside else metric


def live(field: str, queue: str = QUEUE_ALL, by: str = "queue") -> str:
    """A live per-queue gauge, one series per ``by`` (default: per queue)."""
    return f"max by ({by}) ({selector(f'ccpulse_queue_{field}', queue)})"


def live_by(field: str, label: str, queue: str = QUEUE_ALL) -> str:
    """A live breakdown (agents by state, backlog by age...), summed over the queues shown."""
    per_queue = f"max by (queue, {label}) ({selector(f'ccpulse_queue_{field}', queue)})"
    return f"sum by ({label}) ({per_queue})"


def window(field: str, window_label: str, queue: str = QUEUE_ALL, by: str = "queue") -> str:
    """A windowed KPI over ``window_label`` (a label or ``$window``), one series per ``by``."""
    sel = selector(f"ccpulse_window_{field}", queue, f'window="{window_label}"')
    return f"max by ({by}) ({sel})"


def window_by(field: str, queue: str = QUEUE_ONE) -> str:
    """A windowed KPI of one queue, one series per window."""
    return f"max by (window) ({selector(f'ccpulse_window_{field}', queue)})"


def channel(field: str, window_label: str, queue: str = QUEUE_ONE) -> str:
    """A contact KPI of one queue over ``window_label``, one series per channel (only queues of
    two channels or more have these: docs/kpis.md#channels)."""
    sel = selector(f"ccpulse_channel_window_{field}", queue, f'window="{window_label}"')
    return f"max by (channel) ({sel})"


def total(per_queue: str) -> str:
    """The sum over queues of a per-queue expression (counts: calls waiting, backlog...)."""
    return f"sum({per_queue})"


def agents_available(queue: str = QUEUE_ALL) -> str:
    """Available agents per queue; 0 (not "no data") for a staffed queue with none available.

    The engine lists only the agent states that occur, so a queue whose agents are all busy has
    no ``state="available"`` series; its staffed gauge times zero fills that gap with a real 0.
    """
    available_only = selector("ccpulse_queue_agents", queue, 'state="available"')
    available = f"max by (queue) ({available_only})"
    staffed = f"max by (queue) ({selector('ccpulse_queue_agents_staffed', queue)})"
    return f"{available} or {staffed} * 0"


def firing_alerts(queue: str = QUEUE_ALL) -> str:
    """The alerts firing now, one series per (rule, queue, severity)."""
    return f"max by (rule, queue, severity) ({selector('ccpulse_alert_firing', queue)}) > 0"


def paused_by_reason(queue: str = QUEUE_ONE) -> str:
    """Agents not ready by pause reason; 0 ("nobody") while no agent is paused, not "no data":
    the gauge has a series only for the reasons in use now."""
    paused = f"max by (reason) ({selector('ccpulse_queue_agents_paused', queue)})"
    staffed = f"max({selector('ccpulse_queue_agents_staffed', queue)})"
    nobody = f'label_replace(0 * {staffed}, "reason", "nobody", "", "")'
    return f"{paused} or ({nobody} unless on() {paused})"


def abandoned_calls(queue: str = QUEUE_ONE) -> str:
    """The day's last abandoned calls of a queue, one series each, valued with the hang-up time
    in milliseconds (what Grafana's date units read)."""
    labels = "call_id, caller, wait_seconds, recovered"
    return f"max by ({labels}) ({selector('ccpulse_queue_abandoned_call', queue)}) * 1000"
