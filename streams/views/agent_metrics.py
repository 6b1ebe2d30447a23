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

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from processors.agent_board import agent_rows, pause_reasons
from processors.drilldown import abandoned_today
from streams.metric_spec import MetricSpec
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

    def _per_agent(self) -> bool:
        metrics = getattr(self._runtime.config, "metrics", None)
        return bool(metrics is not None and metrics.per_agent)

    def describe(self) -> Iterator[Metric]:
        yield from self._families(self._per_agent())

    def _families(self, per_agent: bool) -> list[GaugeMetricFamily]:
        specs = AGENT_METRICS if per_agent else QUEUE_AGENT_METRICS
        return [GaugeMetricFamily(s.name, s.help, labels=list(s.labels)) for s in specs]

    def collect(self) -> Iterator[Metric]:
        from streams.views.queues import mask_caller, queue_time  # it registers these views

        runtime = self._runtime
        per_agent = self._per_agent()
        families = self._families(per_agent)
        privacy = getattr(runtime.config, "privacy", None)
        mode = "masked" if privacy is None else privacy.caller_numbers
        visible = 4 if privacy is None else privacy.visible_digits
        engine = runtime.engine
        for queue in sorted(engine.queues):
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
            if not per_agent:
                continue
            for row in rows:
                families[2].add_metric([queue, row.agent, row.state, row.reason or ""], 1.0)
                families[3].add_metric([queue, row.agent], max(0.0, at + 1 - row.since))
                for outcome in ("answered", "missed", "handled"):
                    families[4].add_metric([queue, row.agent, outcome], getattr(row, outcome))
                if row.occupancy_1h is not None:
                    families[5].add_metric([queue, row.agent], row.occupancy_1h)
        yield from families
