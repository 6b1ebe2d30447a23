"""Every Prometheus metric ccpulse exports, in one list, gathered from the modules that register
them (each declares its metrics once as :class:`~streams.metric_spec.MetricSpec` constants and
creates its collectors from them; the KPI gauges come from the KPI registry, processors/kpis.py).

The Grafana dashboards, the alert-rule export and the tests read this list, so a metric cannot be
renamed in one place and silently vanish from a panel in another; tests/test_metrics_catalog.py
checks it against what the real objects register in their ``CollectorRegistry``.

Naming: live per-queue gauges are ``ccpulse_queue_<field>``; windowed KPIs are
``ccpulse_window_<field>{queue,window}`` where ``<field>`` is the name in docs/kpis.md (rates are
fractions 0..1); engine and pipeline health are ``ccpulse_*_total`` counters and a few gauges.
"""

from __future__ import annotations

from streams.alerting.alert_metrics import ALERT_METRICS
from streams.alerting.notify_metrics import NOTIFY_METRICS
from streams.ingest.metrics import INGEST_METRICS
from streams.metric_spec import MetricSpec
from streams.views.agent_metrics import AGENT_METRICS
from streams.views.metrics import (
    CHANNEL_WINDOW_METRICS,
    LIVE_DICT_METRICS,
    LIVE_METRICS,
    PIPELINE_METRICS,
    STAFFING_METRICS,
    STATE_COUNTER_METRICS,
    WINDOW_METRICS,
)
from streams.views.prepared_page import PAGE_METRICS
from streams.views.wallboard.feed import WEB_METRICS
from streams.worker.loop_lag import LOOP_LAG_METRICS

__all__ = [
    "AGENT_METRICS",
    "ALERT_METRICS",
    "ALL_METRICS",
    "CHANNEL_WINDOW_METRICS",
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

OPERATIONAL_METRICS: tuple[MetricSpec, ...] = (
    PIPELINE_METRICS + STATE_COUNTER_METRICS + LOOP_LAG_METRICS + PAGE_METRICS
)
"""The worker's pipeline (streams/views/metrics.py), the engine's per-queue counters, the
loop-lag probe (streams/worker/loop_lag.py) and the prepared /metrics page
(streams/views/prepared_page.py)."""

ALL_METRICS: tuple[MetricSpec, ...] = (
    (LIVE_METRICS + LIVE_DICT_METRICS + WINDOW_METRICS + CHANNEL_WINDOW_METRICS)
    + (STAFFING_METRICS + OPERATIONAL_METRICS)
    + AGENT_METRICS
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
