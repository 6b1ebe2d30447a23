"""streams/views/metrics_catalog.py lists what the worker and the ingest adapters register.

The catalog is gathered from the specs the registering modules declare; this checks it against
what the real objects put into their ``CollectorRegistry`` (prometheus_client's own view), so a
metric registered outside a spec, or a help text changed in one place only, fails here.
"""

from __future__ import annotations

import types

import msgspec
from prometheus_client import CollectorRegistry

from processors.engine import KpiEngine
from streams.alerting.config import NotifyConfig
from streams.alerting.dispatch import Dispatcher
from streams.alerting.runtime import AlertRuntime
from streams.config import Config, MetricsConfig
from streams.ingest.metrics import IngestMetrics
from streams.views.agent_metrics import AgentCollector
from streams.views.metrics import KpiCollector, PipelineMetrics
from streams.views.metrics_catalog import ALL_METRICS
from streams.views.prepared_page import PreparedPage
from streams.views.wallboard.feed import WallboardFeed
from streams.worker.loop_lag import GcPauseTimer, LoopLagProbe


def registered() -> dict[str, tuple[str, str]]:
    """name -> (type, help) of every family the worker's and the ingest's objects register."""
    worker, ingest = CollectorRegistry(auto_describe=True), CollectorRegistry(auto_describe=True)
    engine = KpiEngine()
    KpiCollector(lambda: engine.snapshot(0), lambda: engine.queues).register(worker)
    PipelineMetrics(worker)
    Dispatcher(msgspec.convert({}, NotifyConfig), worker)
    runtime = types.SimpleNamespace(config=Config())
    AlertRuntime(runtime, None, None, None, worker)
    WallboardFeed(lambda: None, 1, worker)  # type: ignore[arg-type, return-value]
    LoopLagProbe(worker)
    GcPauseTimer(worker)  # install_loop_lag_probe registers both
    PreparedPage(lambda: None, 3.0, worker)  # type: ignore[arg-type, return-value]
    IngestMetrics(ingest)
    per_agent = Config(metrics=MetricsConfig(per_agent=True))  # every agent family
    worker.register(AgentCollector(types.SimpleNamespace(config=per_agent, engine=engine)))
    found: dict[str, tuple[str, str]] = {}
    for registry in (worker, ingest):
        for family in registry.collect():
            assert family.name not in found, family.name
            found[family.name] = (family.type, family.documentation)
    return found


def test_every_registered_metric_is_in_the_catalog_with_its_help() -> None:
    catalog = {spec.name: (spec.type, spec.help) for spec in ALL_METRICS}
    assert len(catalog) == len(ALL_METRICS)  # no name listed twice
    found = registered()
    assert sorted(found) == sorted(catalog)
    for name, (kind, help_text) in found.items():
        assert (kind, help_text) == catalog[name], name


def test_kpi_gauges_take_their_help_from_the_kpi_registry() -> None:
    found = registered()
    assert found["ccpulse_window_abandon_rate"] == (
        "gauge",
        "Abandonment, over the rolling window: Abandoned calls / exits (answered + abandoned "
        "+ other exits), short abandons excluded. (docs/kpis.md#abandon_rate)",
    )
    assert found["ccpulse_queue_agents_short"] == (
        "gauge",
        "Agents short, per queue: Agents required minus agents staffed (negative: spare agents); "
        "absent when the inputs are too thin. (docs/staffing.md#agents_short)",
    )
