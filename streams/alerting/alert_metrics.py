"""The alert evaluator's Prometheus metrics: their specs (listed by
streams/views/metrics_catalog.py) and the firing gauge, read from the evaluator at scrape time so
that a queue handed to another worker stops being exported here at once."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from processors.alerts import AlertEvaluator
from streams.metric_spec import MetricSpec

__all__ = [
    "ALERT_METRICS",
    "EVALUATION_ERRORS",
    "FIRING",
    "HELD",
    "TRANSITIONS",
    "AlertCollector",
]

FIRING = MetricSpec(
    "ccpulse_alert_firing",
    "gauge",
    "1 while the alert of a rule on a queue is firing (docs/alerts.md).",
    ("rule", "queue", "severity"),
)
TRANSITIONS = MetricSpec(
    "ccpulse_alert_transitions",
    "counter",
    "Alert state transitions, by rule and new state (pending, firing, resolved...).",
    ("rule", "state"),
)
EVALUATION_ERRORS = MetricSpec(
    "ccpulse_alert_evaluation_errors",
    "counter",
    "Alert evaluations that failed with an error (see the worker log).",
)
HELD = MetricSpec(
    "ccpulse_alerts_held",
    "gauge",
    "1 while no alert rule is evaluated because the worker is replaying a backlog "
    "(alerts.hold_while_behind_events).",
)
ALERT_METRICS: tuple[MetricSpec, ...] = (FIRING, TRANSITIONS, EVALUATION_ERRORS, HELD)
"""The alert evaluator's metrics (listed by streams/views/metrics_catalog.py)."""


class AlertCollector(Collector):
    """``ccpulse_alert_firing{rule,queue,severity}`` = 1 per firing alert, at scrape time."""

    def __init__(self, evaluator: AlertEvaluator) -> None:
        self._evaluator = evaluator

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(FIRING.name, FIRING.help, labels=list(FIRING.labels))
        for _, alert in self._evaluator.firing():
            family.add_metric([alert.rule, alert.queue, alert.severity], 1.0)
        yield family
