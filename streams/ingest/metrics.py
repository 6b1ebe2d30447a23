"""Prometheus metrics of the ingest adapters (listed in streams/views/metrics_catalog.py).

Each adapter process owns a :class:`CollectorRegistry`; the webhook service exposes it on
``/metrics``, the queue_log follower on ``--metrics-port`` when asked.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from streams.logs import log

__all__ = ["IngestMetrics", "report_refused"]


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "ccpulse_ingest_events",
            "Canonical events produced and acknowledged by Kafka, by source.",
            ["source"],
            registry=r,
        )
        self.deadlettered = Counter(
            "ccpulse_ingest_deadlettered",
            "Input sent to the dead-letter topic (malformed or over-long line, unmappable "
            "payload, a record Kafka refused).",
            ["source", "reason"],
            registry=r,
        )
        self.rejected = Counter(
            "ccpulse_ingest_rejected",
            "Webhook requests refused before reading them (bad signature, no secret...).",
            ["source", "reason"],
            registry=r,
        )
        self.requests = Counter(
            "ccpulse_ingest_requests",
            "Webhook requests answered, by source and HTTP status.",
            ["source", "status"],
            registry=r,
        )
        self.buffer_depth = Gauge(
            "ccpulse_ingest_buffer_depth",
            "Payloads accepted and not yet acknowledged by Kafka.",
            registry=r,
        )
        self.buffer_capacity = Gauge(
            "ccpulse_ingest_buffer_capacity",
            "Payloads the buffer holds before requests are refused with 503.",
            registry=r,
        )
        self.buffer_full = Counter(
            "ccpulse_ingest_buffer_full",
            "Requests refused with 503 because the buffer was full.",
            ["source"],
            registry=r,
        )
        self.produce_errors = Counter(
            "ccpulse_ingest_produce_errors",
            "Failed produce attempts (retried; nothing accepted is dropped).",
            registry=r,
        )
        self.lines = Counter(
            "ccpulse_ingest_lines",
            "queue_log lines read and committed (position saved), by file.",
            ["file"],
            registry=r,
        )
        self.file_resets = Counter(
            "ccpulse_ingest_file_resets",
            "queue_log rotations and truncations detected, by kind.",
            ["file", "kind"],
            registry=r,
        )


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
