"""The notification dispatcher's Prometheus metrics (listed by
streams/views/metrics_catalog.py): deliveries, failed attempts, notifications given up, and what
waits per receiver (the default rule ``CcpulseNotificationsStuck`` reads the last two)."""

from __future__ import annotations

from streams.metric_spec import MetricSpec

__all__ = ["DROPPED", "FAILURES", "NOTIFY_METRICS", "OLDEST_PENDING", "PENDING", "SENT"]

SENT = MetricSpec(
    "ccpulse_alert_notifications",
    "counter",
    "Alert notifications delivered, by receiver and status (firing, repeat, resolved).",
    ("receiver", "status"),
)
FAILURES = MetricSpec(
    "ccpulse_alert_notification_failures",
    "counter",
    "Failed notification delivery attempts, by receiver (every retry counts).",
    ("receiver",),
)
DROPPED = MetricSpec(
    "ccpulse_alert_notifications_dropped",
    "counter",
    "Notifications given up, by receiver and reason (overflow_repeat, overflow, "
    "rejected, retries_exhausted, shutdown).",
    ("receiver", "reason"),
)
PENDING = MetricSpec(
    "ccpulse_alert_notifications_pending",
    "gauge",
    "Notifications waiting for delivery, by receiver.",
    ("receiver",),
)
OLDEST_PENDING = MetricSpec(
    "ccpulse_alert_notifications_oldest_pending_seconds",
    "gauge",
    "Age of the oldest notification waiting for delivery, by receiver (0: none).",
    ("receiver",),
)
NOTIFY_METRICS: tuple[MetricSpec, ...] = (SENT, FAILURES, DROPPED, PENDING, OLDEST_PENDING)
"""The dispatcher's metrics (listed by streams/views/metrics_catalog.py)."""
