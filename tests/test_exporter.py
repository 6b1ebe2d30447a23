"""streams/views/metrics.py: KPI families read at scrape time, each built only when asked for."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from processors.engine import KpiEngine
from processors.events import CallBlocked
from streams.views.metrics import KpiCollector
from streams.views.metrics_catalog import LIVE_METRICS, WINDOW_METRICS

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _engine() -> KpiEngine:
    engine = KpiEngine()
    engine.apply_all([CallBlocked(id="b1", time=AT, queue="q", call_id="c1")])
    return engine


def test_a_restricted_scrape_builds_only_the_families_it_names() -> None:
    engine = _engine()
    reads = {"snapshots": 0, "states": 0}

    def snapshots() -> object:
        reads["snapshots"] += 1
        return engine.snapshot(AT.timestamp())

    def states() -> object:
        reads["states"] += 1
        return engine.queues

    registry = CollectorRegistry(auto_describe=True)
    KpiCollector(snapshots, states).register(registry)  # type: ignore[arg-type]
    text = generate_latest(registry.restricted_registry(["ccpulse_window_blocked"])).decode()
    assert 'ccpulse_window_blocked{queue="q",window="1h"} 1.0' in text
    assert "ccpulse_queue_calls_waiting" not in text and "ccpulse_events_late" not in text
    # One family built: the snapshots read once, the states (counters only) never.
    assert reads == {"snapshots": 1, "states": 0}

    text = generate_latest(registry).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    snap = engine.snapshot(AT.timestamp())["q"]
    for spec in (*LIVE_METRICS[:3], *WINDOW_METRICS[:3]):
        family = families[spec.name]
        assert (family.type, family.documentation) == ("gauge", spec.help)
        assert spec.source_field is not None
        if spec in LIVE_METRICS:
            expected = {("q",): float(getattr(snap.live, spec.source_field))}
        else:
            expected = {
                ("q", window): float(getattr(kpis, spec.source_field))
                for window, kpis in snap.windows.items()
                if getattr(kpis, spec.source_field) is not None
            }
        got = {
            tuple(sample.labels[name] for name in spec.labels): sample.value
            for sample in family.samples
        }
        assert got == expected, spec.name
    assert 'ccpulse_events_late_total{queue="q"} 0.0' in text
    assert reads["states"] == 6  # one read per engine counter family


def test_register_names_the_families_read_from_snapshots_and_nothing_else() -> None:
    engine = _engine()
    registry = CollectorRegistry(auto_describe=True)
    names = KpiCollector(lambda: engine.snapshot(AT.timestamp()), lambda: engine.queues).register(
        registry  # type: ignore[arg-type]
    )
    assert {"ccpulse_window_blocked", "ccpulse_queue_calls_waiting"} <= names
    assert "ccpulse_events_late_total" in names  # a counter, by its sample name too
    assert "ccpulse_events_total" not in names and "ccpulse_consumer_lag" not in names
