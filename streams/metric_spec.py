"""A Prometheus metric declared once: the spec its owner registers and the catalog lists.

Each module that exports metrics declares them as :class:`MetricSpec` constants and creates its
``Counter`` / ``Gauge`` / ``Histogram`` from them (:meth:`MetricSpec.counter`...), so the name
and help text that Prometheus scrapes are the ones streams/views/metrics_catalog.py lists:
the catalog gathers the specs, it does not copy them. tests/test_metrics_catalog.py checks
what the real objects register against the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["MetricSpec", "MetricType"]

MetricType = Literal["gauge", "counter", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    source_field: str | None = None
    """The snapshot field a KPI metric is read from (None for operational metrics)."""
    buckets: tuple[float, ...] = ()
    """A histogram's bucket bounds."""

    def counter(self, registry: CollectorRegistry | None) -> Counter:
        assert self.type == "counter", self.name
        return Counter(self.name, self.help, list(self.labels), registry=registry)

    def gauge(self, registry: CollectorRegistry | None) -> Gauge:
        assert self.type == "gauge", self.name
        return Gauge(self.name, self.help, list(self.labels), registry=registry)

    def histogram(self, registry: CollectorRegistry | None) -> Histogram:
        assert self.type == "histogram" and self.buckets, self.name
        return Histogram(
            self.name, self.help, list(self.labels), buckets=self.buckets, registry=registry
        )
