"""Prometheus exposition: KPI gauges read from the engine at scrape time, plus pipeline counters.

Following prometheus client_python's custom-collector pattern, KPI series are not thousands of
Gauge objects updated per event: :class:`KpiCollector` asks for the current snapshots when
Prometheus scrapes, so a queue this worker no longer owns simply stops being exported (no stale
series after a rebalance) and a rate with an empty denominator is absent rather than 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from processors.snapshot import QueueSnapshot
from processors.state import QueueState
from streams.views.metrics_catalog import (
    LIVE_DICT_METRICS,
    LIVE_METRICS,
    STAFFING_METRICS,
    WINDOW_METRICS,
)

__all__ = ["KpiCollector", "PipelineMetrics"]

SnapshotSource = Callable[[], Mapping[str, QueueSnapshot]]
StateSource = Callable[[], Mapping[str, QueueState]]

# Per-queue engine counters kept inside the queue's state, so they survive restarts and move
# with the queue on a rebalance.
_STATE_COUNTERS = (
    ("ccpulse_events_late", "late", "Events dropped as later than the allowed lateness."),
    (
        "ccpulse_events_duplicate",
        "duplicates",
        "Events ignored as already applied (same id or offset).",
    ),
    (
        "ccpulse_events_ignored",
        "ignored",
        "Events that carried no new fact (a second exit for a call).",
    ),
    (
        "ccpulse_calls_unmatched_exits",
        "unmatched_exits",
        "Exits whose entry never arrived in time.",
    ),
    ("ccpulse_calls_lost", "lost_calls", "Calls that entered and never left within the limit."),
    (
        "ccpulse_callbacks_lost",
        "lost_callbacks",
        "Callbacks requested and never completed within the limit.",
    ),
)


class _Family(Collector):
    """One metric family read at scrape time. One collector per family, so that a scrape
    restricted to a few families (``/metrics?name[]=...``, prometheus_client's
    ``restricted_registry``) builds only those: building every family of 100 queues took as
    long as computing their snapshots (``make bench`` freshness probes)."""

    def __init__(
        self, name: str, help_text: str, labels: list[str], fill: Callable[[Metric], None]
    ) -> None:
        self._name, self._help, self._labels, self._fill = name, help_text, labels, fill

    def _empty(self) -> Metric:
        return GaugeMetricFamily(self._name, self._help, labels=self._labels)

    def describe(self) -> Iterator[Metric]:
        yield self._empty()  # its name, for the registry; nothing computed

    def collect(self) -> Iterator[Metric]:
        family = self._empty()
        self._fill(family)
        yield family


class _Counter(_Family):
    def _empty(self) -> Metric:
        return CounterMetricFamily(self._name, self._help, labels=self._labels)


class KpiCollector:
    """The per-queue KPI families, read from the current snapshots (and, for the engine's
    counters, the states) when Prometheus scrapes: :meth:`register` them in a registry."""

    def __init__(self, snapshots: SnapshotSource, states: StateSource) -> None:
        self._snapshots = snapshots
        self._states = states

    def register(self, registry: CollectorRegistry) -> frozenset[str]:
        """Register every family in ``registry``; returns the metric names they answer to (a
        scrape restricted to other names needs no snapshot)."""
        names: set[str] = set()
        for collector in self.collectors():
            registry.register(collector)
            for family in collector.describe():
                names.update((family.name, f"{family.name}_total", f"{family.name}_created"))
        return frozenset(names)

    def collectors(self) -> list[Collector]:
        out: list[Collector] = [
            _Counter(name, help_text, ["queue"], self._state_counter(attribute))
            for name, attribute, help_text in _STATE_COUNTERS
        ]
        for spec in LIVE_METRICS + STAFFING_METRICS:
            assert spec.source_field is not None
            out.append(
                _Family(spec.name, spec.help, list(spec.labels), self._live(spec.source_field))
            )
        for spec in LIVE_DICT_METRICS:
            assert spec.source_field is not None
            fill = self._live_dict(spec.source_field)
            out.append(_Family(spec.name, spec.help, list(spec.labels), fill))
        for spec in WINDOW_METRICS:
            assert spec.source_field is not None
            fill = self._window(spec.source_field)
            out.append(_Family(spec.name, spec.help, list(spec.labels), fill))
        return out

    def _state_counter(self, attribute: str) -> Callable[[Metric], None]:
        def fill(family: Metric) -> None:
            for queue, state in self._states().items():
                family.add_metric([queue], float(getattr(state, attribute)))  # type: ignore[attr-defined]

        return fill

    def _live(self, field: str) -> Callable[[Metric], None]:
        def fill(family: Metric) -> None:
            for queue, snap in self._snapshots().items():
                value = getattr(snap.live, field)
                if value is not None:  # a nullable gauge (staffing) is absent, never 0
                    family.add_metric([queue], float(value))  # type: ignore[attr-defined]

        return fill

    def _live_dict(self, field: str) -> Callable[[Metric], None]:
        def fill(family: Metric) -> None:
            for queue, snap in self._snapshots().items():
                for label, value in getattr(snap.live, field).items():
                    family.add_metric([queue, label], float(value))  # type: ignore[attr-defined]

        return fill

    def _window(self, field: str) -> Callable[[Metric], None]:
        def fill(family: Metric) -> None:
            for queue, snap in self._snapshots().items():
                for window, kpis in snap.windows.items():
                    value = getattr(kpis, field)
                    if value is not None:
                        family.add_metric([queue, window], float(value))  # type: ignore[attr-defined]

        return fill


class PipelineMetrics:
    """Counters and gauges about the pipeline itself, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "ccpulse_events",
            "Events applied, by source topic and type.",
            ["topic", "type"],
            registry=registry,
        )
        self.deadlettered = Counter(
            "ccpulse_events_deadlettered",
            "Events sent to the dead-letter topic, by source topic and reason.",
            ["topic", "reason"],
            registry=registry,
        )
        self.rekeyed = Counter(
            "ccpulse_events_rekeyed",
            "Events re-published because their key was not their queue.",
            ["topic"],
            registry=registry,
        )
        self.batches = Counter(
            "ccpulse_batches", "Batches processed by the KPI agent.", registry=registry
        )
        self.batch_events = Histogram(
            "ccpulse_batch_events",
            "Events per processed batch.",
            buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
            registry=registry,
        )
        self.redelivered = Counter(
            "ccpulse_events_redelivered",
            "Records delivered again that this worker had already applied (dropped before "
            "decoding; streams/worker/ordering.py).",
            ["topic"],
            registry=registry,
        )
        self.offset_gaps = Counter(
            "ccpulse_offset_gaps",
            "Gaps in a partition's delivered offsets, read straight from Kafka before the "
            "batch was applied (streams/worker/gap_fill.py).",
            ["topic"],
            registry=registry,
        )
        self.lag = Gauge(
            "ccpulse_consumer_lag",
            "Messages not yet processed and committed, per partition (highwater - committed).",
            ["topic", "partition"],
            registry=registry,
        )
        self.owned_queues = Gauge(
            "ccpulse_owned_queues",
            "Queues whose partition this worker owns and exports.",
            registry=registry,
        )
        self.ready = Gauge(
            "ccpulse_ready",
            "1 when table recovery has finished and the worker is ready.",
            registry=registry,
        )
