"""The worker's Prometheus metrics (``/metrics``): KPI gauges read at scrape time, the engine's
per-queue counters, and the pipeline's own counters.

Following prometheus client_python's custom-collector pattern, KPI series are not thousands of
Gauge objects updated per event: :class:`KpiCollector` registers one collector per family that
asks for the current snapshots (or, for the engine's counters, the queue states) when Prometheus
scrapes, so a queue this worker no longer owns simply stops being exported (no stale series
after a rebalance), a rate with an empty denominator is absent rather than 0, and a scrape
restricted to a few families builds only those. The families' names and help texts come from
the KPI registry (processors/kpis.py); :class:`PipelineMetrics` creates its collectors from the
specs declared here. streams/views/metrics_catalog.py lists both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from processors.kpis import KPIS, Kpi
from processors.snapshot import QueueSnapshot
from processors.state import QueueState
from streams.metric_spec import MetricSpec

__all__ = [
    "CHANNEL_WINDOW_METRICS",
    "KPI_METRICS",
    "LIVE_DICT_METRICS",
    "LIVE_METRICS",
    "PIPELINE_METRICS",
    "STAFFING_METRICS",
    "STATE_COUNTER_METRICS",
    "WINDOW_METRICS",
    "KpiCollector",
    "PipelineMetrics",
]

SnapshotSource = Callable[[], Mapping[str, QueueSnapshot]]
StateSource = Callable[[], Mapping[str, QueueState]]


def _kpi_metric(entry: Kpi) -> MetricSpec:
    """A KPI's gauge: ``ccpulse_window_<name>{queue,window}`` or ``ccpulse_queue_<name>{queue}``
    (a breakdown adds its label), its help text the registry's title and description."""
    window = entry.kind == "window"
    labels: tuple[str, ...] = ("queue", "window") if window else ("queue",)
    if entry.breakdown is not None:
        labels += (entry.breakdown,)
    scope = "over the rolling window" if window else "per queue"
    return MetricSpec(
        name=f"ccpulse_{'window' if window else 'queue'}_{entry.name}",
        type="gauge",
        help=f"{entry.title}, {scope}: {entry.description} ({entry.anchor})",
        labels=labels,
        source_field=entry.name,
    )


_SNAPSHOT_KPIS = tuple(entry for entry in KPIS if entry.part_of is None)
WINDOW_METRICS: tuple[MetricSpec, ...] = tuple(
    _kpi_metric(entry) for entry in _SNAPSHOT_KPIS if entry.kind == "window"
)
LIVE_METRICS: tuple[MetricSpec, ...] = tuple(
    _kpi_metric(entry)
    for entry in _SNAPSHOT_KPIS
    if entry.kind == "live" and entry.breakdown is None and entry.doc != "staffing"
)
LIVE_DICT_METRICS: tuple[MetricSpec, ...] = tuple(
    _kpi_metric(entry) for entry in _SNAPSHOT_KPIS if entry.breakdown is not None
)
"""Live breakdowns (agents by state, backlog by priority and by age)."""
CHANNEL_WINDOW_METRICS: tuple[MetricSpec, ...] = tuple(
    MetricSpec(
        name=f"ccpulse_channel_window_{entry.name}",
        type="gauge",
        help=f"{entry.title}, per contact channel over the rolling window: {entry.description} "
        f"Only for queues with two channels or more (docs/kpis.md#channels).",
        labels=("queue", "channel", "window"),
        source_field=entry.name,
    )
    for entry in _SNAPSHOT_KPIS
    if entry.per_channel
)
"""The contact KPIs per channel (processors/channels.py): ``ccpulse_window_<name>`` is their
channel total, so existing dashboards and alert rules read the same series as before."""
STAFFING_METRICS: tuple[MetricSpec, ...] = tuple(
    _kpi_metric(entry) for entry in _SNAPSHOT_KPIS if entry.doc == "staffing"
)
"""Erlang C / Erlang A figures per queue: LiveKpis fields, absent when the inputs are thin."""

# Per-queue engine counters kept inside the queue's state, so they survive restarts and move
# with the queue on a rebalance: (spec, QueueState attribute).
_STATE_COUNTERS: tuple[tuple[MetricSpec, str], ...] = (
    (
        MetricSpec(
            "ccpulse_events_late",
            "counter",
            "Events dropped as later than the allowed lateness.",
            ("queue",),
        ),
        "late",
    ),
    (
        MetricSpec(
            "ccpulse_events_duplicate",
            "counter",
            "Events ignored as already applied (same id or offset).",
            ("queue",),
        ),
        "duplicates",
    ),
    (
        MetricSpec(
            "ccpulse_events_ignored",
            "counter",
            "Events that carried no new fact (a second exit for a call).",
            ("queue",),
        ),
        "ignored",
    ),
    (
        MetricSpec(
            "ccpulse_calls_unmatched_exits",
            "counter",
            "Exits whose entry never arrived in time.",
            ("queue",),
        ),
        "unmatched_exits",
    ),
    (
        MetricSpec(
            "ccpulse_calls_lost",
            "counter",
            "Calls that entered and never left within the limit.",
            ("queue",),
        ),
        "lost_calls",
    ),
    (
        MetricSpec(
            "ccpulse_callbacks_lost",
            "counter",
            "Callbacks requested and never completed within the limit.",
            ("queue",),
        ),
        "lost_callbacks",
    ),
)
STATE_COUNTER_METRICS: tuple[MetricSpec, ...] = tuple(spec for spec, _ in _STATE_COUNTERS)
KPI_METRICS: tuple[MetricSpec, ...] = (
    STATE_COUNTER_METRICS + LIVE_METRICS + STAFFING_METRICS + LIVE_DICT_METRICS + WINDOW_METRICS
) + CHANNEL_WINDOW_METRICS
"""Every family :class:`KpiCollector` registers, in its order."""


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
            _Counter(spec.name, spec.help, list(spec.labels), self._state_counter(attribute))
            for spec, attribute in _STATE_COUNTERS
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
        for spec in CHANNEL_WINDOW_METRICS:
            assert spec.source_field is not None
            fill = self._channel_window(spec.source_field)
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

    def _channel_window(self, field: str) -> Callable[[Metric], None]:
        def fill(family: Metric) -> None:
            for queue, snap in self._snapshots().items():
                for channel, windows in snap.channels.items():
                    for window, kpis in windows.items():
                        value = kpis[field]
                        if value is not None:
                            family.add_metric([queue, channel, window], float(value))  # type: ignore[attr-defined]

        return fill


EVENTS = MetricSpec(
    "ccpulse_events", "counter", "Events applied, by source topic and type.", ("topic", "type")
)
DEADLETTERED = MetricSpec(
    "ccpulse_events_deadlettered",
    "counter",
    "Events sent to the dead-letter topic, by source topic and reason.",
    ("topic", "reason"),
)
REKEYED = MetricSpec(
    "ccpulse_events_rekeyed",
    "counter",
    "Events re-published because their key was not their queue.",
    ("topic",),
)
BATCHES = MetricSpec("ccpulse_batches", "counter", "Batches processed by the KPI agent.")
BATCH_EVENTS = MetricSpec(
    "ccpulse_batch_events",
    "histogram",
    "Events per processed batch.",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
)
REDELIVERED = MetricSpec(
    "ccpulse_events_redelivered",
    "counter",
    "Records delivered again that this worker had already applied (dropped before "
    "decoding; streams/worker/ordering.py).",
    ("topic",),
)
OFFSET_GAPS = MetricSpec(
    "ccpulse_offset_gaps",
    "counter",
    "Gaps in a partition's delivered offsets, read straight from Kafka before the "
    "batch was applied (streams/worker/gap_fill.py).",
    ("topic",),
)
CONSUMER_LAG = MetricSpec(
    "ccpulse_consumer_lag",
    "gauge",
    "Messages not yet processed and committed, per partition (highwater - committed).",
    ("topic", "partition"),
)
OWNED_QUEUES = MetricSpec(
    "ccpulse_owned_queues", "gauge", "Queues whose partition this worker owns and exports."
)
READY = MetricSpec(
    "ccpulse_ready", "gauge", "1 when table recovery has finished and the worker is ready."
)
RECOVERY_RESTARTS = MetricSpec(
    "ccpulse_table_recovery_restarts",
    "counter",
    "Table recoveries started again after no progress for worker.recovery_stall_seconds "
    "(streams/faust_adapter/recovery_watch.py).",
)
PIPELINE_METRICS: tuple[MetricSpec, ...] = (
    EVENTS,
    DEADLETTERED,
    REKEYED,
    BATCHES,
    BATCH_EVENTS,
    REDELIVERED,
    OFFSET_GAPS,
    CONSUMER_LAG,
    OWNED_QUEUES,
    READY,
    RECOVERY_RESTARTS,
)


class PipelineMetrics:
    """Counters and gauges about the pipeline itself, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = EVENTS.counter(registry)
        self.deadlettered = DEADLETTERED.counter(registry)
        self.rekeyed = REKEYED.counter(registry)
        self.batches = BATCHES.counter(registry)
        self.batch_events = BATCH_EVENTS.histogram(registry)
        self.redelivered = REDELIVERED.counter(registry)
        self.offset_gaps = OFFSET_GAPS.counter(registry)
        self.lag = CONSUMER_LAG.gauge(registry)
        self.owned_queues = OWNED_QUEUES.gauge(registry)
        self.ready = READY.gauge(registry)
        self.recovery_restarts = RECOVERY_RESTARTS.counter(registry)
