"""streams/worker/loop_lag.py: the probe records how late the loop woke it."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, generate_latest

from streams.worker.loop_lag import LoopLagProbe


def _bucket(registry: CollectorRegistry, le: str) -> float:
    value = registry.get_sample_value("ccpulse_event_loop_lag_seconds_bucket", {"le": le})
    assert value is not None
    return value


def test_a_blocked_loop_shows_as_one_long_stall() -> None:
    registry = CollectorRegistry()
    probe = LoopLagProbe(registry, interval=0.01)

    async def scenario() -> None:
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0.05)  # a few ordinary wake-ups
        time.sleep(0.3)  # holds the loop: the probe wakes ~0.3 s late
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(scenario())
    count = registry.get_sample_value("ccpulse_event_loop_lag_seconds_count")
    assert count is not None and count >= 3
    # Exactly one wake-up was later than 0.25 s (the blocked one); it is the longest.
    assert count - _bucket(registry, "0.25") == 1
    assert _bucket(registry, "1.0") == count
    assert 0.29 <= probe.longest < 1.0
    assert registry.get_sample_value("ccpulse_event_loop_lag_longest_seconds") == probe.longest
    assert b'ccpulse_event_loop_lag_seconds_bucket{le="0.025"}' in generate_latest(registry)


def test_an_early_wake_up_counts_as_no_stall() -> None:
    registry = CollectorRegistry()
    probe = LoopLagProbe(registry)
    probe.observe(-0.001)
    probe.observe(0.03)
    assert _bucket(registry, "0.001") == 1  # the early one, as 0
    assert _bucket(registry, "0.025") == 1 and _bucket(registry, "0.05") == 2
    assert probe.longest == 0.03
    assert registry.get_sample_value("ccpulse_event_loop_lag_seconds_sum") == 0.03
