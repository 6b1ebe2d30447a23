"""Prometheus metrics of the ingest adapters, declared once (streams/views/metrics_catalog.py
lists these specs).

Each adapter process owns a :class:`CollectorRegistry`; the webhook service exposes it on
``/metrics``, the queue_log follower on ``--metrics-port`` when asked.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry

from streams.logs import log
from streams.metric_spec import MetricSpec

__all__ = ["INGEST_METRICS", "IngestMetrics", "report_refused"]


EVENTS = MetricSpec(
    "ccpulse_ingest_events",
    "counter",
    "Canonical events produced by an ingest adapter and acknowledged by Kafka, by source.",
    ("source",),
)
DEADLETTERED = MetricSpec(
    "ccpulse_ingest_deadlettered",
    "counter",
    "Ingest input sent to the dead-letter topic (malformed or over-long line, unmappable "
    "payload, a record Kafka refused).",
    ("source", "reason"),
)
REJECTED = MetricSpec(
    "ccpulse_ingest_rejected",
    "counter",
    "Webhook requests refused with 401 before reading them (bad signature, no secret "
    "configured...).",
    ("source", "reason"),
)
REQUESTS = MetricSpec(
    "ccpulse_ingest_requests",
    "counter",
    "Webhook requests answered, by source and HTTP status.",
    ("source", "status"),
)
BUFFER_DEPTH = MetricSpec(
    "ccpulse_ingest_buffer_depth",
    "gauge",
    "Webhook payloads accepted and not yet acknowledged by Kafka.",
)
BUFFER_CAPACITY = MetricSpec(
    "ccpulse_ingest_buffer_capacity",
    "gauge",
    "Webhook payloads the buffer holds before requests are refused with 503.",
)
BUFFER_FULL = MetricSpec(
    "ccpulse_ingest_buffer_full",
    "counter",
    "Webhook requests refused with 503 because the buffer was full.",
    ("source",),
)
PRODUCE_ERRORS = MetricSpec(
    "ccpulse_ingest_produce_errors",
    "counter",
    "Failed produce attempts of an ingest adapter (retried; nothing accepted is dropped).",
)
LINES = MetricSpec(
    "ccpulse_ingest_lines",
    "counter",
    "queue_log lines read and committed (position saved), by file.",
    ("file",),
)
FILE_RESETS = MetricSpec(
    "ccpulse_ingest_file_resets",
    "counter",
    "queue_log rotations and truncations detected, by kind.",
    ("file", "kind"),
)

INGEST_METRICS: tuple[MetricSpec, ...] = (
    EVENTS,
    DEADLETTERED,
    REJECTED,
    REQUESTS,
    BUFFER_DEPTH,
    BUFFER_CAPACITY,
    BUFFER_FULL,
    PRODUCE_ERRORS,
    LINES,
    FILE_RESETS,
)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = EVENTS.counter(r)
        self.deadlettered = DEADLETTERED.counter(r)
        self.rejected = REJECTED.counter(r)
        self.requests = REQUESTS.counter(r)
        self.buffer_depth = BUFFER_DEPTH.gauge(r)
        self.buffer_capacity = BUFFER_CAPACITY.gauge(r)
        self.buffer_full = BUFFER_FULL.counter(r)
        self.produce_errors = PRODUCE_ERRORS.counter(r)
        self.lines = LINES.counter(r)
        self.file_resets = FILE_RESETS.counter(r)


def report_refused(
    metrics: IngestMetrics, logger: logging.Logger, record: Any, error: Exception, replacement: Any
) -> None:
    """A record Kafka refused for what it is (streams/ingest/producer.py): counted and logged;
    an error line when not even its bounded dead-letter form could be sent."""
    from streams.ingest.producer import refusal_code

    origin = record.origin or {}
    fields = {
        "source": str(origin.get("source", "ingest")),
        "file": origin.get("file"),
        "line": origin.get("line"),
        "topic": record.topic,
        "size": len(record.value),
        "error": repr(error)[:300],
    }
    if replacement is None:
        log(logger, "record refused by Kafka and dropped", level=logging.ERROR, **fields)
        return
    metrics.deadlettered.labels(fields["source"], refusal_code(error)).inc()
    log(logger, "record refused by Kafka; dead-lettered", level=logging.WARNING, **fields)
