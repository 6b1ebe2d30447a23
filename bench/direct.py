"""The worker's own per-batch code fed by a plain aiokafka consumer, without Faust.

A plain aiokafka consumer takes batches (``getmany``) from the same pre-produced topics and
runs exactly what the worker's checkpoint runs per batch (streams/worker/checkpoint.py):
:func:`streams.worker.batching.decode_batch`, the engine's batch apply, the interval tracker's
look after each batch (and its flush of changed intervals every ``REPUBLISH_SECONDS``: records
computed, not sent) and the state store's staging and delta encoding (into an in-memory table;
only the sends are left out). It is the upper bound of the worker, which takes whole fetches
from Faust's consumer (streams/faust_adapter/batch_fetch.py) but also sends the changelog, runs
the alert timer and serves /metrics; the gap between the two figures is that share.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator
from typing import Any

from processors.engine import KpiEngine
from processors.intervals import IntervalTracker
from streams.worker.batching import decode_batch
from streams.worker.codec import DecodeFailure
from streams.worker.intervals import REPUBLISH_SECONDS
from streams.worker.state_store import QueueStateStore

__all__ = ["WORKER_GC_THRESHOLD", "direct_path", "engine_only", "worker_gc"]

WORKER_GC_THRESHOLD = (50_000, 20, 100)
"""As set by streams/commands/worker.py."""


class _MemoryTable:
    """The two things QueueStateStore needs of a Faust table, without Kafka."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}

    def send_changelog(
        self, partition: int | None, key: Any, value: Any, *a: Any, **k: Any
    ) -> None:
        return None


class _FlushEvery:
    """Calls the tracker's flush of changed intervals once ``REPUBLISH_SECONDS`` have passed
    since the last, as the worker's timer does (streams/app.py)."""

    def __init__(self, tracker: IntervalTracker) -> None:
        self._tracker = tracker
        self._last = time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self._last >= REPUBLISH_SECONDS:
            self._tracker.flush()
            self._last = time.perf_counter()


async def _run(bootstrap: str, topic_names: list[str], expected: int) -> dict[str, Any]:
    from bench.kafka_phase import consumer_from_start

    engine = KpiEngine()
    store = QueueStateStore(_MemoryTable(), engine)
    # As the worker's publisher (streams/worker/intervals.py): changes to intervals already
    # published wait for the flush every REPUBLISH_SECONDS (without it, a catch-up where one
    # family's topic is read hours behind the other's republishes hours of intervals per batch).
    intervals = IntervalTracker(engine, defer_republish=True)
    flush_when_due = _FlushEvery(intervals)
    consumer = await consumer_from_start(bootstrap, topic_names)
    try:
        count = 0
        first: float | None = None
        first_batch = 0
        deadline = time.monotonic() + 300.0
        while count < expected and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=5000)
            runs = list(fetched.values())  # one run per partition, as the worker's drain loop
            records = sum(map(len, runs))
            if not records:
                continue
            if first is None:
                first, first_batch = time.perf_counter(), records
            decoded = decode_batch(runs)
            engine.apply_grouped(decoded.by_queue)
            intervals.due(decoded.by_queue)  # the closed intervals due, as the worker looks
            store.stage(decoded.applied)
            store.flush()  # encoded as the worker's flush does, each batch (nothing is sent)
            flush_when_due()
            count += records
        end = time.perf_counter()
    finally:
        await consumer.stop()
    if first is None or count <= first_batch:
        return {"events": count, "rate": None}
    return {"events": count, "seconds": end - first, "rate": (count - first_batch) / (end - first)}


def direct_path(bootstrap: str, topic_names: list[str], expected: int) -> dict[str, Any]:
    with worker_gc():
        return asyncio.run(_run(bootstrap, topic_names, expected))


@contextlib.contextmanager
def worker_gc() -> Iterator[None]:
    """The garbage-collector thresholds ``ccpulse worker`` runs with, for a fair comparison."""
    previous = gc.get_threshold()
    gc.set_threshold(*WORKER_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def engine_only(
    records: list[tuple[str, bytes, bytes]], batch: int = 5000, intervals: bool = False
) -> float:
    """Events/s of the engine's batch apply alone over pre-decoded batches (no Kafka, no
    decode), grouped by queue as the worker's decoder hands them over; ``intervals``: with the
    interval tracker's look for closed intervals after each batch and its flush of changed
    ones every ``REPUBLISH_SECONDS``, as the worker's."""
    from processors.engine import Item, source_key
    from streams.worker.codec import decode_event

    batches = []
    for start in range(0, len(records), batch):
        groups: dict[str, list[Item]] = {}
        for index, (family, key, value) in enumerate(records[start : start + batch]):
            event = decode_event(value)
            assert not isinstance(event, DecodeFailure)
            item = (event, source_key(family, hash(key) % 8), start + index)
            groups.setdefault(event.queue, []).append(item)
        batches.append(groups)
    engine = KpiEngine()
    tracker = IntervalTracker(engine, defer_republish=True) if intervals else None
    with worker_gc():
        started = time.perf_counter()
        flush_when_due = _FlushEvery(tracker) if tracker is not None else None
        for groups in batches:
            engine.apply_grouped(groups)
            if tracker is not None and flush_when_due is not None:
                tracker.due(groups)
                flush_when_due()
        return len(records) / (time.perf_counter() - started)
