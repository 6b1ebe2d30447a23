"""streams/faust_adapter/lag.py on real Faust consumers (tests/faust_objects.py; a running
worker's: tests/test_health.py)."""

from __future__ import annotations

from faust.types.tuples import TP
from prometheus_client import CollectorRegistry

from streams.faust_adapter.lag import (
    committed_offset,
    handed_over,
    partition_highwaters,
    partition_lags,
    update_lag_gauge,
)
from streams.views.metrics import PipelineMetrics
from tests.faust_objects import worker_consumer


def test_lag_is_highwater_minus_committed_for_the_source_topics_only() -> None:
    highwater = {
        TP("tel", 0): 120,
        TP("tel", 1): 50,
        TP("tick", 0): 7,
        TP("tick", 1): None,  # nothing fetched yet: left out, not guessed
        TP("queue-state-changelog", 0): 999,  # not a source topic
    }
    consumer = worker_consumer({TP("tel", 0): 100, TP("tel", 1): 50, TP("tick", 0): None})
    # The consumer's public view of the broker, as a started one reports it.
    consumer.assignment = lambda: set(highwater)
    consumer.highwater = highwater.__getitem__
    highwaters = partition_highwaters(consumer, {"tel", "tick"})
    assert partition_lags(highwaters, lambda key: committed_offset(consumer, key)) == {
        ("tel", 0): 20,
        ("tel", 1): 0,
        ("tick", 0): 7,  # never committed: everything from offset 0 is still to do
    }


def test_a_consumer_that_is_not_running_reports_no_partition() -> None:
    assert partition_highwaters(worker_consumer(), {"tel"}) == {}


def test_the_gauge_keeps_only_the_partitions_of_the_last_measurement() -> None:
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    update_lag_gauge(metrics.lag, {("tel", 0): 5, ("tel", 1): 3})
    update_lag_gauge(metrics.lag, {("tel", 1): 0})  # partition 0 was revoked
    samples = {
        (s.labels["topic"], s.labels["partition"]): s.value
        for family in registry.collect()
        if family.name == "ccpulse_consumer_lag"
        for s in family.samples
    }
    assert samples == {("tel", "1"): 0.0}


def test_handed_over_is_one_past_faust_s_read_offset_and_never_past_the_highwater() -> None:
    reader = worker_consumer()
    reader._read_offset[TP("tel", 0)] = 41
    reader._read_offset[TP("tel", 1)] = None
    assert handed_over(reader, ("tel", 0), 100) == 42
    assert handed_over(reader, ("tel", 0), 40) == 40
    assert handed_over(reader, ("tel", 1), 100) == 0  # nothing handed over since the seek
    assert handed_over(reader, ("tel", 2), 100) == 0
