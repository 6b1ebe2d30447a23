"""streams/faust_adapter/lag.py against a stand-in consumer (the real one: tests/test_health.py)."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry

from streams.faust_adapter.lag import partition_lags, update_lag_gauge
from streams.views.metrics import PipelineMetrics


class TP(NamedTuple):
    topic: str
    partition: int


class FakeConsumer:
    """What partition_lags reads of a Faust consumer: assignment, highwater, committed."""

    def __init__(
        self, highwater: dict[TP, int | None], committed: dict[TP, int | None], started: bool
    ) -> None:
        self._highwater, self._committed_offset, self._started = highwater, committed, started

    def assignment(self) -> set[TP]:
        if not self._started:
            raise RuntimeError("consumer not started")
        return set(self._highwater)

    def highwater(self, tp: TP) -> int | None:
        return self._highwater[tp]


def test_lag_is_highwater_minus_committed_for_the_source_topics_only() -> None:
    consumer = FakeConsumer(
        highwater={
            TP("tel", 0): 120,
            TP("tel", 1): 50,
            TP("tick", 0): 7,
            TP("tick", 1): None,  # nothing fetched yet: left out, not guessed
            TP("queue-state-changelog", 0): 999,  # not a source topic
        },
        committed={TP("tel", 0): 100, TP("tel", 1): 50, TP("tick", 0): None},
        started=True,
    )
    assert partition_lags(consumer, {"tel", "tick"}) == {
        ("tel", 0): 20,
        ("tel", 1): 0,
        ("tick", 0): 7,  # never committed: everything from offset 0 is still to do
    }


def test_a_consumer_that_is_not_running_reports_no_partition() -> None:
    assert partition_lags(FakeConsumer({}, {}, started=False), {"tel"}) == {}


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
    from faust.types.tuples import TP

    from streams.faust_adapter.lag import handed_over

    class Reader:
        _read_offset = {TP("tel", 0): 41, TP("tel", 1): None}

    assert handed_over(Reader(), ("tel", 0), 100) == 42
    assert handed_over(Reader(), ("tel", 0), 40) == 40
    assert handed_over(Reader(), ("tel", 1), 100) == 0  # nothing handed over since the seek
    assert handed_over(Reader(), ("tel", 2), 100) == 0
