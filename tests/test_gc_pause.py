"""The garbage collector's pauses timed into ``ccpulse_gc_pause_seconds{generation}``
(streams/worker/loop_lag.py), on a real prometheus_client registry and Python's own ``gc``."""

from __future__ import annotations

import gc

from prometheus_client import CollectorRegistry

from streams.worker.loop_lag import GcPauseTimer


def _count(registry: CollectorRegistry, generation: str) -> float:
    value = registry.get_sample_value("ccpulse_gc_pause_seconds_count", {"generation": generation})
    return value or 0.0


def _timers() -> list[object]:
    """The timers of the ccpulse callbacks in ``gc.callbacks`` (None: dropped)."""
    return [c.ccpulse_timer() for c in gc.callbacks if hasattr(c, "ccpulse_timer")]


def test_each_collection_is_timed_by_generation_and_a_dropped_timer_is_removed() -> None:
    registry = CollectorRegistry()
    timer = GcPauseTimer(registry)
    timer.install()
    try:
        assert _timers().count(timer) == 1
        gc.collect(2)
        gc.collect(0)
        gc.collect(0)
        assert _count(registry, "2") == 1.0 and _count(registry, "0") == 2.0
        total = registry.get_sample_value("ccpulse_gc_pause_seconds_sum", {"generation": "2"})
        assert total is not None and total > 0.0
    finally:
        del timer
        gc.collect()
    # Dropped: it times nothing more, and the next install removes its callback (and those of
    # any other dropped timer: apps built by other tests in this process).
    gc.collect(2)
    assert _count(registry, "2") == 1.0
    assert None in _timers()
    other = GcPauseTimer(CollectorRegistry())
    other.install()
    assert None not in _timers() and _timers().count(other) == 1
    gc.callbacks[:] = [
        c
        for c in gc.callbacks
        if getattr(c, "ccpulse_timer", None) is None or c.ccpulse_timer() is not other
    ]
    assert other not in _timers()
