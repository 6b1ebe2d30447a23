"""Every Prometheus metric ccpulse exports, in one list.

The exporter, the Grafana dashboards, the alert-rule export and the tests all read this list, so
a metric cannot be renamed in one place and silently vanish from a panel in another.

Naming: live per-queue gauges are ``ccpulse_queue_<field>``; windowed KPIs are
``ccpulse_window_<field>{queue,window}`` where ``<field>`` is the name in docs/kpis.md (rates are
fractions 0..1); engine and pipeline health are ``ccpulse_*_total`` counters and a few gauges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from processors.snapshot import LiveKpis, WindowKpis
from processors.staffing import STAFFING_FIELDS

__all__ = [
    "ALERT_METRICS",
    "ALL_METRICS",
    "INGEST_METRICS",
    "LIVE_DICT_METRICS",
    "LIVE_METRICS",
    "NOTIFY_METRICS",
    "OPERATIONAL_METRICS",
    "STAFFING_METRICS",
    "WEB_METRICS",
    "WINDOW_METRICS",
    "MetricSpec",
    "metric_names",
]

MetricType = Literal["gauge", "counter", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]
    source_field: str | None = None
    """The snapshot field this metric is read from (None for operational metrics)."""


def _doc(field: str) -> str:
    return field.replace("_", " ")


_LIVE_DICTS = {"agents": "state", "backlog_by_priority": "priority", "backlog_by_age": "age"}

LIVE_METRICS: tuple[MetricSpec, ...] = tuple(
    MetricSpec(
        name=f"ccpulse_queue_{field}",
        type="gauge",
        help=f"Live {_doc(field)} per queue (docs/kpis.md#{field}).",
        labels=("queue",),
        source_field=field,
    )
    for field in LiveKpis.__struct_fields__
    if field not in _LIVE_DICTS and field not in STAFFING_FIELDS
)

LIVE_DICT_METRICS: tuple[MetricSpec, ...] = tuple(
    MetricSpec(
        name=f"ccpulse_queue_{field}",
        type="gauge",
        help=f"Live {_doc(field)} per queue and {label} (docs/kpis.md#{field}).",
        labels=("queue", label),
        source_field=field,
    )
    for field, label in _LIVE_DICTS.items()
)

WINDOW_METRICS: tuple[MetricSpec, ...] = tuple(
    MetricSpec(
        name=f"ccpulse_window_{field}",
        type="gauge",
        help=f"{_doc(field).capitalize()} over the rolling window (docs/kpis.md#{field}).",
        labels=("queue", "window"),
        source_field=field,
    )
    for field in WindowKpis.__struct_fields__
)

_STAFFING_HELP = {
    "agents_required_erlang_c": "Agents needed for the service-level target by Erlang C",
    "agents_required_erlang_a": "Agents needed for the service-level target by Erlang A",
    "agents_short": "Agents required minus agents staffed (negative: spare agents)",
    "predicted_service_level": "Service level predicted with the agents staffed now",
    "predicted_asa_seconds": "ASA predicted with the agents staffed now",
    "predicted_abandon_rate": "Abandonment predicted by Erlang A with the agents staffed now",
}

STAFFING_METRICS: tuple[MetricSpec, ...] = tuple(
    MetricSpec(
        name=f"ccpulse_queue_{field}",
        type="gauge",
        help=f"{_STAFFING_HELP[field]}, per queue; absent when the inputs are too thin "
        f"(docs/staffing.md#{field}).",
        labels=("queue",),
        source_field=field,
    )
    for field in STAFFING_FIELDS
)
"""Erlang C / Erlang A figures per queue: LiveKpis fields, exported like the live gauges."""

OPERATIONAL_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "ccpulse_events", "counter", "Events applied, by source topic and type.", ("topic", "type")
    ),
    MetricSpec(
        "ccpulse_events_deadlettered",
        "counter",
        "Events sent to the dead-letter topic, by source topic and reason.",
        ("topic", "reason"),
    ),
    MetricSpec(
        "ccpulse_events_late",
        "counter",
        "Events dropped as later than the allowed lateness.",
        ("queue",),
    ),
    MetricSpec(
        "ccpulse_events_duplicate",
        "counter",
        "Events ignored as already applied (same id or offset).",
        ("queue",),
    ),
    MetricSpec(
        "ccpulse_events_ignored",
        "counter",
        "Events that carried no new fact (a second exit for a call).",
        ("queue",),
    ),
    MetricSpec(
        "ccpulse_calls_unmatched_exits",
        "counter",
        "Exits whose entry never arrived in time.",
        ("queue",),
    ),
    MetricSpec(
        "ccpulse_calls_lost",
        "counter",
        "Calls that entered and never left within the limit.",
        ("queue",),
    ),
    MetricSpec(
        "ccpulse_events_rekeyed",
        "counter",
        "Events re-published because their key was not their queue.",
        ("topic",),
    ),
    MetricSpec("ccpulse_batches", "counter", "Batches processed by the KPI agent.", ()),
    MetricSpec("ccpulse_batch_events", "histogram", "Events per processed batch.", ()),
    MetricSpec(
        "ccpulse_events_redelivered",
        "counter",
        "Records delivered again that this worker had already applied (dropped before "
        "decoding; streams/worker/ordering.py).",
        ("topic",),
    ),
    MetricSpec(
        "ccpulse_offset_gaps",
        "counter",
        "Gaps in a partition's delivered offsets, read straight from Kafka before the "
        "batch was applied (streams/worker/gap_fill.py).",
        ("topic",),
    ),
    MetricSpec(
        "ccpulse_consumer_lag",
        "gauge",
        "Messages not yet processed and committed, per partition (highwater - committed).",
        ("topic", "partition"),
    ),
    MetricSpec(
        "ccpulse_owned_queues", "gauge", "Queues whose partition this worker owns and exports.", ()
    ),
    MetricSpec(
        "ccpulse_ready", "gauge", "1 when table recovery has finished and the worker is ready.", ()
    ),
)

INGEST_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "ccpulse_ingest_events",
        "counter",
        "Canonical events produced by an ingest adapter and acknowledged by Kafka.",
        ("source",),
    ),
    MetricSpec(
        "ccpulse_ingest_deadlettered",
        "counter",
        "Ingest input sent to the dead-letter topic (malformed or over-long line, unmappable "
        "payload, a record Kafka refused).",
        ("source", "reason"),
    ),
    MetricSpec(
        "ccpulse_ingest_rejected",
        "counter",
        "Webhook requests refused with 401 (bad signature, no secret configured...).",
        ("source", "reason"),
    ),
    MetricSpec(
        "ccpulse_ingest_requests",
        "counter",
        "Webhook requests answered, by source and HTTP status.",
        ("source", "status"),
    ),
    MetricSpec(
        "ccpulse_ingest_buffer_depth",
        "gauge",
        "Webhook payloads accepted and not yet acknowledged by Kafka.",
        (),
    ),
    MetricSpec(
        "ccpulse_ingest_buffer_capacity",
        "gauge",
        "Webhook payloads the buffer holds before requests are refused with 503.",
        (),
    ),
    MetricSpec(
        "ccpulse_ingest_buffer_full",
        "counter",
        "Webhook requests refused with 503 because the buffer was full.",
        ("source",),
    ),
    MetricSpec(
        "ccpulse_ingest_produce_errors",
        "counter",
        "Failed produce attempts of an ingest adapter (retried, nothing dropped).",
        (),
    ),
    MetricSpec(
        "ccpulse_ingest_lines",
        "counter",
        "queue_log lines read and committed (position saved), by file.",
        ("file",),
    ),
    MetricSpec(
        "ccpulse_ingest_file_resets",
        "counter",
        "queue_log rotations and truncations detected, by kind.",
        ("file", "kind"),
    ),
)
"""The ingest adapters' own metrics (``ccpulse ingest ...``: streams/ingest/metrics.py)."""

NOTIFY_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "ccpulse_alert_notifications",
        "counter",
        "Alert notifications delivered, by receiver and status (firing, repeat, resolved).",
        ("receiver", "status"),
    ),
    MetricSpec(
        "ccpulse_alert_notification_failures",
        "counter",
        "Failed notification delivery attempts, by receiver (every retry counts).",
        ("receiver",),
    ),
    MetricSpec(
        "ccpulse_alert_notifications_dropped",
        "counter",
        "Notifications given up, by receiver and reason (overflow_repeat, overflow, "
        "rejected, retries_exhausted, shutdown).",
        ("receiver", "reason"),
    ),
    MetricSpec(
        "ccpulse_alert_notifications_pending",
        "gauge",
        "Notifications waiting for delivery, by receiver.",
        ("receiver",),
    ),
    MetricSpec(
        "ccpulse_alert_notifications_oldest_pending_seconds",
        "gauge",
        "Age of the oldest notification waiting for delivery, by receiver (0: none).",
        ("receiver",),
    ),
)
"""The alert notification dispatcher's metrics (streams/alerting/dispatch.py)."""

ALERT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "ccpulse_alert_firing",
        "gauge",
        "1 while the alert of a rule on a queue is firing (docs/alerts.md).",
        ("rule", "queue", "severity"),
    ),
    MetricSpec(
        "ccpulse_alert_transitions",
        "counter",
        "Alert state transitions, by rule and new state (pending, firing, resolved...).",
        ("rule", "state"),
    ),
    MetricSpec(
        "ccpulse_alert_evaluation_errors",
        "counter",
        "Alert evaluations that failed with an error (see the worker log).",
        (),
    ),
    MetricSpec(
        "ccpulse_alerts_held",
        "gauge",
        "1 while no alert rule is evaluated because the worker is replaying a backlog "
        "(alerts.hold_while_behind_events).",
        (),
    ),
)
"""The alert evaluator's metrics (streams/alerting/runtime.py)."""

WEB_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("ccpulse_wallboard_streams", "gauge", "Open wallboard event streams.", ()),
    MetricSpec(
        "ccpulse_wallboard_streams_refused",
        "counter",
        "Wallboard streams refused with 503 (worker.wallboard_max_streams open).",
        (),
    ),
    MetricSpec(
        "ccpulse_wallboard_encodes",
        "counter",
        "Wallboard documents computed for the open streams (at most one a second, shared).",
        (),
    ),
)
"""The worker's web views (streams/views/wallboard/feed.py)."""

ALL_METRICS: tuple[MetricSpec, ...] = (
    (LIVE_METRICS + LIVE_DICT_METRICS + WINDOW_METRICS + STAFFING_METRICS + OPERATIONAL_METRICS)
    + INGEST_METRICS
    + NOTIFY_METRICS
    + ALERT_METRICS
    + WEB_METRICS
)


def metric_names() -> set[str]:
    """Every series name a scrape can contain (counters with ``_total``, histograms with parts)."""
    names: set[str] = set()
    for spec in ALL_METRICS:
        if spec.type == "counter":
            names.update({spec.name + "_total", spec.name + "_created"})
        elif spec.type == "histogram":
            names.update(spec.name + suffix for suffix in ("_bucket", "_sum", "_count", "_created"))
        else:
            names.add(spec.name)
    return names
