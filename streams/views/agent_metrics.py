"""Prometheus series about agents, read from the queues' states at scrape time.

Always: ``ccpulse_queue_agents_paused{queue,reason}``, the agents not ready per pause reason
(the counts by state are ``ccpulse_queue_agents{queue,state}``), and
``ccpulse_queue_abandoned_call{queue,call_id,caller,wait_seconds,recovered}``: one series per
abandoned call of the day kept for the drill-down (at most ``engine.drilldown_length`` per
queue), valued with its hang-up time, for Grafana's table of the last abandoned calls (an
info-style metric: no JSON data source plugin needed; dashboards/README.md).

With ``metrics.per_agent: true`` also, per agent and queue, ``ccpulse_agent_state`` (1 for the
current state), ``ccpulse_agent_time_in_state_seconds``, ``ccpulse_agent_calls_today{outcome}``
(answered, missed, handled) and ``ccpulse_agent_occupancy_1h``. Off by default: one set of
series per agent and queue is what makes a large centre's Prometheus expensive.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from processors.agent_board import agent_rows, pause_reasons
from processors.drilldown import abandoned_today
from streams.give_way import give_way
from streams.metric_spec import MetricSpec
from streams.views.queues import caller_privacy, mask_caller, queue_time
from streams.views.text_format import SampleWriter, family_header
from streams.views.worker_view import WorkerView

__all__ = ["AGENT_METRICS", "PER_AGENT_METRICS", "QUEUE_AGENT_METRICS", "AgentCollector"]

QUEUE_AGENT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "ccpulse_queue_agents_paused",
        "gauge",
        "Agents not ready per queue and pause reason (unknown: none given).",
        ("queue", "reason"),
    ),
    MetricSpec(
        "ccpulse_queue_abandoned_call",
        "gauge",
        "One of the day's last abandoned calls per queue (engine.drilldown_length): its hang-up "
        "time; caller as privacy.caller_numbers shows it.",
        ("queue", "call_id", "caller", "wait_seconds", "recovered"),
    ),
)
PER_AGENT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "ccpulse_agent_state",
        "gauge",
        "1 for the agent's current state in the queue (metrics.per_agent).",
        ("queue", "agent", "state", "reason"),
    ),
    MetricSpec(
        "ccpulse_agent_time_in_state_seconds",
        "gauge",
        "Seconds the agent has been in its current state (metrics.per_agent).",
        ("queue", "agent"),
    ),
    MetricSpec(
        "ccpulse_agent_calls_today",
        "gauge",
        "The agent's calls today in the queue: answered, missed, handled (metrics.per_agent).",
        ("queue", "agent", "outcome"),
    ),
    MetricSpec(
        "ccpulse_agent_occupancy_1h",
        "gauge",
        "The agent's occupancy over the last hour (metrics.per_agent).",
        ("queue", "agent"),
    ),
)
AGENT_METRICS = QUEUE_AGENT_METRICS + PER_AGENT_METRICS


class AgentCollector(Collector):
    """The agent families of the queues this worker owns: collected at one go for
    prometheus_client (``collect``), or written as text in slices for /metrics (``text``)."""

    def __init__(self, runtime: WorkerView) -> None:
        self._runtime = runtime

    def _per_agent(self) -> bool:
        metrics = getattr(self._runtime.config, "metrics", None)
        return bool(metrics is not None and metrics.per_agent)

    def _specs(self) -> tuple[MetricSpec, ...]:
        return AGENT_METRICS if self._per_agent() else QUEUE_AGENT_METRICS

    def describe(self) -> Iterator[Metric]:
        yield from self._families(self._specs())

    @staticmethod
    def _families(specs: tuple[MetricSpec, ...]) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(s.name, s.help, labels=list(s.labels)) for s in specs]

    def collect(self) -> Iterator[Metric]:
        """Every family, built at one go."""
        specs = self._specs()
        families = self._families(specs)
        privacy = caller_privacy(self._runtime)
        for queue in sorted(self._runtime.engine.queues):
            for index, labels, value in self._samples(queue, privacy, len(specs)):
                families[index].add_metric(labels, value)
        yield from families

    async def text(self, slice_seconds: float, names: Collection[str] = ()) -> bytes:
        """The families named in ``names`` (all when empty) as Prometheus text, the same bytes
        ``generate_latest`` writes of :meth:`collect`, written a few queues at a time with the
        event loop given back every ``slice_seconds``: 1,000 queues' agent rows and abandoned
        calls at one go held a worker's loop for 100-140 ms per scrape, and their text,
        written by ``generate_latest`` after a sliced build, another 16-23 ms (``make bench``,
        "Loop stalls")."""
        specs = self._specs()
        wanted = [i for i, spec in enumerate(specs) if not names or spec.name in names]
        if not wanted:
            return b""
        writers = [SampleWriter(spec.name, spec.labels) for spec in specs]
        lines: list[list[str]] = [[] for _ in specs]
        privacy = caller_privacy(self._runtime)
        queues = self._runtime.engine.queues
        started = time.perf_counter()
        for queue in sorted(queues):
            if queue in queues:  # not revoked meanwhile
                for index, labels, value in self._samples(queue, privacy, len(specs)):
                    lines[index].append(writers[index].line(labels, value))
            if time.perf_counter() - started >= slice_seconds:
                await give_way()
                started = time.perf_counter()
        headers = [family_header(family) for family in self._families(specs)]
        return "".join(headers[i] + "".join(lines[i]) for i in wanted).encode()

    def _samples(
        self, queue: str, privacy: tuple[str, int], families: int
    ) -> Iterator[tuple[int, list[str], float]]:
        """(family index, label values, value) of each sample of ``queue``; the per-agent
        families (index 2 on) only when there are more than two ``families``."""
        runtime = self._runtime
        mode, visible = privacy
        engine = runtime.engine
        state = engine.queues[queue]
        at = queue_time(runtime, queue)
        zone = engine.settings.for_queue(queue).timezone
        rows = agent_rows(state, at, zone)
        for reason, count in sorted(pause_reasons(rows).items()):
            yield 0, [queue, reason], float(count)
        for entry in abandoned_today(state, at, zone):
            recovered = entry.recovered_at is not None and entry.recovered_at < at + 1
            labels = [
                queue,
                entry.call_id,
                mask_caller(entry.caller, mode, visible) or "",
                "" if entry.wait is None else str(round(entry.wait)),
                "yes" if recovered else "no",
            ]
            yield 1, labels, entry.at
        if families == len(QUEUE_AGENT_METRICS):
            return
        for row in rows:
            yield 2, [queue, row.agent, row.state, row.reason or ""], 1.0
            yield 3, [queue, row.agent], max(0.0, at + 1 - row.since)
            for outcome in ("answered", "missed", "handled"):
                yield 4, [queue, row.agent, outcome], getattr(row, outcome)
            if row.occupancy_1h is not None:
                yield 5, [queue, row.agent], row.occupancy_1h
