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

import asyncio
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from processors.agent_board import agent_rows, pause_reasons
from processors.drilldown import abandoned_today
from streams.metric_spec import MetricSpec
from streams.views.queues import caller_privacy, mask_caller, queue_time
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
    def __init__(self, runtime: WorkerView) -> None:
        self._runtime = runtime
        self._prepared: list[GaugeMetricFamily] | None = None

    def _per_agent(self) -> bool:
        metrics = getattr(self._runtime.config, "metrics", None)
        return bool(metrics is not None and metrics.per_agent)

    def describe(self) -> Iterator[Metric]:
        yield from self._families(self._per_agent())

    def _families(self, per_agent: bool) -> list[GaugeMetricFamily]:
        specs = AGENT_METRICS if per_agent else QUEUE_AGENT_METRICS
        return [GaugeMetricFamily(s.name, s.help, labels=list(s.labels)) for s in specs]

    def collect(self) -> Iterator[Metric]:
        """The families :meth:`prepare` built for this scrape, else built now, at one go."""
        prepared, self._prepared = self._prepared, None
        if prepared is None:
            prepared = self._families(self._per_agent())
            privacy = caller_privacy(self._runtime)
            for queue in sorted(self._runtime.engine.queues):
                self._add_queue(prepared, queue, privacy)
        yield from prepared

    async def prepare(self, slice_seconds: float) -> None:
        """Build the families for the next :meth:`collect`, a few queues at a time, the event
        loop given back every ``slice_seconds``: 1,000 queues' agent rows and abandoned calls
        at one go held a worker's loop for 100-140 ms per scrape (``make bench``, "Loop
        stalls"); their text, which prometheus_client writes, is a small part of that."""
        families = self._families(self._per_agent())
        privacy = caller_privacy(self._runtime)
        started = time.perf_counter()
        for queue in sorted(self._runtime.engine.queues):
            if queue in self._runtime.engine.queues:  # not revoked meanwhile
                self._add_queue(families, queue, privacy)
            if time.perf_counter() - started >= slice_seconds:
                await asyncio.sleep(0)
                started = time.perf_counter()
        self._prepared = families

    def _add_queue(
        self, families: list[GaugeMetricFamily], queue: str, privacy: tuple[str, int]
    ) -> None:
        runtime = self._runtime
        mode, visible = privacy
        engine = runtime.engine
        state = engine.queues[queue]
        at = queue_time(runtime, queue)
        zone = engine.settings.for_queue(queue).timezone
        rows = agent_rows(state, at, zone)
        for reason, count in sorted(pause_reasons(rows).items()):
            families[0].add_metric([queue, reason], float(count))
        for entry in abandoned_today(state, at, zone):
            recovered = entry.recovered_at is not None and entry.recovered_at < at + 1
            labels = [
                queue,
                entry.call_id,
                mask_caller(entry.caller, mode, visible) or "",
                "" if entry.wait is None else str(round(entry.wait)),
                "yes" if recovered else "no",
            ]
            families[1].add_metric(labels, entry.at)
        if len(families) == len(QUEUE_AGENT_METRICS):
            return
        for row in rows:
            families[2].add_metric([queue, row.agent, row.state, row.reason or ""], 1.0)
            families[3].add_metric([queue, row.agent], max(0.0, at + 1 - row.since))
            for outcome in ("answered", "missed", "handled"):
                families[4].add_metric([queue, row.agent, outcome], getattr(row, outcome))
            if row.occupancy_1h is not None:
                families[5].add_metric([queue, row.agent], row.occupancy_1h)
