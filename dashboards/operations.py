"""*Operations*: ccpulse itself. Throughput, consumer lag, dead letters, late and duplicate
events, workers, and alert deliveries.

Pipeline counters are per worker process: rates are summed across workers. The engine's
per-queue counters (late, duplicate...) move with their queue on a rebalance and are reduced
per queue with ``max`` before summing, like the KPI gauges.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashboards import panels
from dashboards.panels import RATE_INTERVAL, query
from processors.alert_rules import AlertRule

__all__ = ["UID", "build"]

UID = "ccpulse-operations"


def _rate(metric: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}[{RATE_INTERVAL}]))"


def _per_queue_increase(metric: str) -> str:
    """Increase over the last hour of an engine counter kept in the queue's state."""
    return f"max by (queue) (increase({metric}[1h]))"


def build(rules: Sequence[AlertRule], windows: Sequence[str]) -> panels.Dashboard:
    del rules, windows  # the pipeline has no KPI thresholds
    board = panels.base_dashboard(
        UID,
        "ccpulse / Operations",
        "ccpulse's own health: events/s, consumer lag, dead letters, late events, workers, "
        "alert deliveries.",
    )
    board = board.with_row(panels.Row("Now"))
    for title, expr, unit in (
        ("Events/s", _rate("ccpulse_events_total"), "ops"),
        ("Consumer lag", "sum(ccpulse_consumer_lag)", "none"),
        ("Dead letters (1 h)", "sum(increase(ccpulse_events_deadlettered_total[1h]))", "none"),
        (
            "Late events (1 h)",
            "sum(max by (queue) (increase(ccpulse_events_late_total[1h])))",
            "none",
        ),
        ("Workers ready", "sum(ccpulse_ready)", "none"),
        ("Queues owned", "sum(ccpulse_owned_queues)", "none"),
    ):
        board = board.with_panel(
            panels.stat_panel(title, [query(expr, instant=True)], unit=unit, width=4, height=4)
        )
    board = board.with_row(panels.Row("Throughput and lag"))
    board = (
        board.with_panel(
            panels.timeseries_panel(
                "Events/s by topic",
                [query(_rate("ccpulse_events_total", "topic"), legend="{{topic}}")],
                unit="ops",
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Events/s by type",
                [query(_rate("ccpulse_events_total", "type"), legend="{{type}}")],
                unit="ops",
                stacked=True,
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Consumer lag by topic",
                [query("sum by (topic) (ccpulse_consumer_lag)", legend="{{topic}}")],
                description="Messages not yet processed (highwater - position), summed over "
                "partitions and workers.",
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Batches/s and events per batch (p90)",
                [
                    query(_rate("ccpulse_batches_total"), legend="batches/s"),
                    query(
                        "histogram_quantile(0.9, sum by (le) "
                        f"(rate(ccpulse_batch_events_bucket[{RATE_INTERVAL}])))",
                        legend="events per batch (p90)",
                        ref="B",
                    ),
                ],
            )
        )
    )
    board = board.with_row(panels.Row("Bad, late and odd events"))
    board = (
        board.with_panel(
            panels.timeseries_panel(
                "Dead letters/s by reason",
                [query(_rate("ccpulse_events_deadlettered_total", "reason"), legend="{{reason}}")],
                unit="ops",
                width=8,
            )
        )
        .with_panel(
            panels.bar_gauge(
                "Late events per queue (1 h)",
                [
                    query(
                        _per_queue_increase("ccpulse_events_late_total"),
                        legend="{{queue}}",
                        instant=True,
                    )
                ],
                description="Dropped as later than engine.allowed_lateness_seconds.",
            )
        )
        .with_panel(
            panels.bar_gauge(
                "Duplicates per queue (1 h)",
                [
                    query(
                        _per_queue_increase("ccpulse_events_duplicate_total"),
                        legend="{{queue}}",
                        instant=True,
                    )
                ],
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Unmatched exits, lost calls, ignored events (1 h)",
                [
                    query(
                        f"sum(max by (queue) (increase({metric}[1h])))",
                        legend=label,
                        ref=ref,
                    )
                    for metric, label, ref in (
                        ("ccpulse_calls_unmatched_exits_total", "unmatched exits", "A"),
                        ("ccpulse_calls_lost_total", "lost calls", "B"),
                        ("ccpulse_events_ignored_total", "ignored", "C"),
                    )
                ],
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Re-keyed events/s",
                [query(_rate("ccpulse_events_rekeyed_total", "topic"), legend="{{topic}}")],
                unit="ops",
                description="Events re-published because their Kafka key was not their queue.",
            )
        )
    )
    board = board.with_row(panels.Row("Workers"))
    board = board.with_panel(
        panels.timeseries_panel(
            "Queues owned per worker",
            [query("sum by (instance) (ccpulse_owned_queues)", legend="{{instance}}")],
            width=12,
        )
    ).with_panel(
        panels.timeseries_panel(
            "Ready per worker",
            [query("max by (instance) (ccpulse_ready)", legend="{{instance}}")],
            width=12,
        )
    )
    board = board.with_row(panels.Row("Alerts"))
    board = (
        board.with_panel(
            panels.timeseries_panel(
                "Alerts firing by severity",
                [query("sum by (severity) (ccpulse_alert_firing)", legend="{{severity}}")],
                width=8,
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Notifications sent (1 h) by receiver and status",
                [
                    query(
                        "sum by (receiver, status) "
                        "(increase(ccpulse_alert_notifications_total[1h]))",
                        legend="{{receiver}} {{status}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Notification failures (1 h) and pending",
                [
                    query(
                        "sum by (receiver) "
                        "(increase(ccpulse_alert_notification_failures_total[1h]))",
                        legend="failures {{receiver}}",
                    ),
                    query("sum(ccpulse_alert_notifications_pending)", legend="pending", ref="B"),
                ],
                width=8,
            )
        )
    )
    return board
