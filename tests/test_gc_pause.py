"""The garbage collector's pauses timed into ``ccpulse_gc_pause_seconds{generation}``
(streams/worker/loop_lag.py), on a real prometheus_client registry and Python's own ``gc``."""

from __future__ import annotations

import gc

from prometheus_client import CollectorRegistry

from streams.worker.loop_lag import GcPauseTimer


def _count(registry: CollectorRegistry, generation: str) -> float:
    value = registry.get_sample_value("ccpulse_gc_pause_seconds_count", {"generation": generation})
    return value or 0.0


def test_each_collection_is_timed_by_generation_and_a_dropped_timer_is_removed() -> None:
    before = len(gc.callbacks)
    registry = CollectorRegistry()
    timer = GcPauseTimer(registry)
    timer.install()
    try:
        assert len(gc.callbacks) == before + 1
        gc.collect(2)
        gc.collect(0)
        gc.collect(0)
        assert _count(registry, "2") == 1.0 and _count(registry, "0") == 2.0
        total = registry.get_sample_value("ccpulse_gc_pause_seconds_sum", {"generation": "2"})
        assert total is not None and total > 0.0
    finally:
        del timer
        gc.collect()
    # Dropped: it times nothing more, and the next install removes its callback.
    gc.collect(2)
    assert _count(registry, "2") == 1.0
    other = GcPauseTimer(CollectorRegistry())
    other.install()
    assert len(gc.callbacks) == before + 1
    del other
    GcPauseTimer(CollectorRegistry()).install()  # removes the one before, and is dropped
    gc.callbacks[:] = [c for c in gc.callbacks if not hasattr(c, "ccpulse_timer")]
    assert len(gc.callbacks) == before
