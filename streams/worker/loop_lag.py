"""How long the worker's event loop is held up: a probe that sleeps and times its wake-up.

Everything in a worker shares one asyncio loop: fetches, the batch task, the changelog
producer, the alert timer, /metrics, the wallboard's stream. Code that runs long without
awaiting (a scrape rendering thousands of series, a large batch) delays all of them. The probe
asks the loop to wake it every ``interval`` seconds and records how much later than asked it
woke: that delay is the longest stretch the loop spent on something else. Exported as the
histogram ``ccpulse_event_loop_lag_seconds`` (one observation per wake-up) and the gauge
``ccpulse_event_loop_lag_longest_seconds`` (the longest since start); ``make bench`` reads
both (docs/performance.md, "Loop stalls").
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from typing import Any

from prometheus_client import CollectorRegistry

from streams.metric_spec import MetricSpec

__all__ = [
    "LOOP_LAG_BUCKETS",
    "LOOP_LAG_METRICS",
    "GcPauseTimer",
    "LoopLagProbe",
    "install_loop_lag_probe",
]

PROBE_INTERVAL_SECONDS = 0.05
"""How often the probe asks to be woken: 20 observations a second, each a few microseconds."""

LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Bucket bounds in seconds; 0.025 is one of them, so "p99 <= 25 ms" reads exactly off the
buckets (the share of observations in ``le="0.025"``)."""


LOOP_LAG = MetricSpec(
    "ccpulse_event_loop_lag_seconds",
    "histogram",
    "How much later than scheduled the event loop woke the loop-lag probe "
    "(streams/worker/loop_lag.py): the length of each stall of the worker's loop.",
    buckets=LOOP_LAG_BUCKETS,
)
LOOP_LAG_LONGEST = MetricSpec(
    "ccpulse_event_loop_lag_longest_seconds",
    "gauge",
    "The longest event-loop stall the loop-lag probe saw since the worker started.",
)
GC_PAUSE = MetricSpec(
    "ccpulse_gc_pause_seconds",
    "histogram",
    "How long each run of Python's cyclic garbage collector held the worker, by generation: "
    "a cause of event-loop stalls the loop-lag probe cannot name.",
    ("generation",),
    buckets=LOOP_LAG_BUCKETS,
)
LOOP_LAG_METRICS: tuple[MetricSpec, ...] = (LOOP_LAG, LOOP_LAG_LONGEST, GC_PAUSE)


class LoopLagProbe:
    """Records the loop's lateness in waking a sleeper (:meth:`observe`), run by :meth:`run`."""

    def __init__(self, registry: CollectorRegistry, interval: float = PROBE_INTERVAL_SECONDS):
        self.interval = interval
        self.gc_timer: GcPauseTimer | None = None
        self.histogram = LOOP_LAG.histogram(registry)
        self.longest_gauge = LOOP_LAG_LONGEST.gauge(registry)
        self.longest = 0.0

    def observe(self, lag: float) -> None:
        lag = max(0.0, lag)  # a wake-up a hair early is no stall
        self.histogram.observe(lag)
        if lag > self.longest:
            self.longest = lag
            self.longest_gauge.set(lag)

    async def run(self) -> None:
        """Sleep ``interval``, record the lateness of the wake-up, forever."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.observe(loop.time() - due)


class GcPauseTimer:
    """Times each run of the cyclic garbage collector (``gc.callbacks``) into
    ``ccpulse_gc_pause_seconds{generation}``.

    A worker's state is millions of small objects; a collection of the older generations walks
    them all, on the loop's thread, wherever an allocation happened to trigger it. The probe
    sees the stall; this says whether the collector was it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        histogram = GC_PAUSE.histogram(registry)
        self._by_generation = [histogram.labels(str(generation)) for generation in range(3)]
        self._started = 0.0

    def install(self) -> None:
        """Add the timer to ``gc.callbacks``, through a weak reference: a timer nobody holds
        any more (an app built by a test and dropped) times nothing, and its callback is
        removed at the next install (not from within a collection's own callback loop)."""
        gc.callbacks[:] = [
            c for c in gc.callbacks if getattr(c, "ccpulse_timer", lambda: True)() is not None
        ]
        ref = weakref.ref(self)

        def callback(phase: str, info: dict[str, int]) -> None:
            timer = ref()
            if timer is None:
                return
            if phase == "start":
                timer._started = time.perf_counter()
            else:
                timer._by_generation[info["generation"]].observe(
                    time.perf_counter() - timer._started
                )

        callback.ccpulse_timer = ref  # type: ignore[attr-defined]
        gc.callbacks.append(callback)


def install_loop_lag_probe(app: Any, registry: CollectorRegistry) -> LoopLagProbe:
    """Run a :class:`LoopLagProbe` as a task of the Faust ``app`` for as long as it runs, and
    time the garbage collector's pauses (:class:`GcPauseTimer`) meanwhile."""
    probe = LoopLagProbe(registry)
    timer = GcPauseTimer(registry)
    timer.install()
    probe.gc_timer = timer  # held as long as the probe (the app's task) is

    @app.task
    async def probe_event_loop() -> None:
        await probe.run()

    del probe_event_loop
    return probe
