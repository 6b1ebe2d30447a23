"""A table recovery that reads nothing is started again (streams/faust_adapter/recovery_watch.py),
checked against a real Faust app's ``Recovery``; a recovery that moves is left alone."""

from __future__ import annotations

import asyncio
import logging

import faust
import pytest
from faust.types.tuples import TP
from prometheus_client import CollectorRegistry, Counter

from streams.faust_adapter.recovery_watch import MAX_RESTARTS, RecoveryWatch

CHANGELOG = TP("app-queue-state-changelog", 1)


def _recovering() -> tuple[faust.App, Counter]:
    app = faust.App("recovery-watch-test", broker="kafka://127.0.0.1:1", store="memory://")
    recovery = app.tables.recovery
    recovery.in_recovery = True
    recovery.active_highwaters[CHANGELOG] = 161
    recovery.active_offsets[CHANGELOG] = -1
    counter = Counter("restarts", "test", registry=CollectorRegistry())
    return app, counter


def test_a_recovery_that_reads_nothing_is_started_again(caplog: pytest.LogCaptureFixture) -> None:
    app, counter = _recovering()
    recovery = app.tables.recovery
    watch = RecoveryWatch(app, 30.0, counter, describe=lambda: {"fetches_since_last_check": 7})
    assert recovery.active_remaining_total() > 0
    caplog.set_level(logging.WARNING, "ccpulse.worker")

    async def run() -> list[bool]:
        return [await watch.check(t) for t in (0.0, 10.0, 29.9, 30.0, 31.0, 59.9, 60.0)]

    assert asyncio.run(run()) == [False, False, False, True, False, False, True]
    assert recovery.signal_recovery_start.is_set()
    assert counter._value.get() == 2
    (record, *_) = [r for r in caplog.records if "no progress" in r.getMessage()]
    fields = record.kv  # type: ignore[attr-defined]
    assert fields["remaining"] == 162 and fields["waited_seconds"] == 30.0
    assert fields["fetches_since_last_check"] == 7
    # The consumer of an app that never started: its position is the error's name.
    assert fields["partitions"].startswith("app-queue-state-changelog[1] offset=-1 highwater=161")


def test_a_recovery_that_moves_or_is_over_is_left_alone() -> None:
    app, counter = _recovering()
    recovery = app.tables.recovery
    watch = RecoveryWatch(app, 30.0, counter)

    async def run() -> list[bool]:
        seen = []
        for second in range(0, 100, 10):
            recovery.active_offsets[CHANGELOG] = second  # one record read every 10 s
            seen.append(await watch.check(float(second)))
        recovery.in_recovery = False  # over: nothing to watch, however long it stands
        seen += [await watch.check(t) for t in (200.0, 300.0)]
        return seen

    assert not any(asyncio.run(run()))
    assert not recovery.signal_recovery_start.is_set()
    assert counter._value.get() == 0


def test_a_recovery_that_reads_nothing_through_the_restarts_stops_the_worker() -> None:
    app, counter = _recovering()
    recovery = app.tables.recovery
    stopped: list[BaseException] = []
    watch = RecoveryWatch(app, 30.0, counter, stop=stopped.append)

    async def run() -> list[bool]:
        return [await watch.check(30.0 * step) for step in range(MAX_RESTARTS + 2)]

    # A restart every 30 s, MAX_RESTARTS of them; the next stall stops the worker.
    assert asyncio.run(run()) == [False] + [True] * MAX_RESTARTS + [False]
    assert counter._value.get() == MAX_RESTARTS
    assert len(stopped) == 1 and "162 changelog records left" in str(stopped[0])

    # Progress in between resets the count: no stop.
    app, counter = _recovering()
    recovery = app.tables.recovery
    stopped.clear()
    watch = RecoveryWatch(app, 30.0, counter, stop=stopped.append)

    async def moving() -> None:
        for step in range(3 * MAX_RESTARTS):
            if step % 3 == 2:
                recovery.active_offsets[CHANGELOG] += 1
            await watch.check(30.0 * step)

    asyncio.run(moving())
    assert not stopped and counter._value.get() > 0
