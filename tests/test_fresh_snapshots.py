"""WorkerRuntime.fresh_snapshots (streams/worker/runtime.py): readers that compute the stale
snapshots a few at a time, side by side (the alert timer, a scrape, a probe), compute each
queue once per second between them, and get exactly the engine's snapshots."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from processors.engine import KpiEngine
from processors.snapshot_cache import SnapshotCache
from streams.config import Config
from streams.offline.simulator import QueueModel, Simulation
from streams.views.metrics import PipelineMetrics
from streams.worker import runtime as runtime_module
from streams.worker.runtime import WorkerRuntime

START = 1_790_000_000.0


class _CountingCache:
    """The real SnapshotCache, with each queue's computations counted."""

    def __init__(self, cache: SnapshotCache) -> None:
        self.cache = cache
        self.computed: Counter[str] = Counter()

    def refresh(self, at: float, names: list[str]) -> None:
        self.computed.update(names)
        self.cache.refresh(at, names)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cache, name)


def _runtime() -> tuple[WorkerRuntime, _CountingCache, int]:
    queues = [
        QueueModel(name=f"q{i}", calls_per_hour=240.0, agents=4, tickets_per_hour=20.0)
        for i in range(40)
    ]
    engine = KpiEngine()
    engine.apply_all(list(itertools.islice(Simulation(queues, start=START, seed=5).events(), 4000)))
    registry = CollectorRegistry()
    runtime = WorkerRuntime(
        config=Config(), engine=engine, registry=registry, metrics=PipelineMetrics(registry)
    )
    counting = _CountingCache(SnapshotCache(engine))
    runtime.snapshot_cache = counting  # type: ignore[assignment]
    second = int(max(state.watermark or 0.0 for state in engine.queues.values())) + 1
    runtime.clock = lambda queue=None: float(second)  # type: ignore[method-assign]
    return runtime, counting, second


def test_readers_side_by_side_compute_each_queue_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "SNAPSHOT_SLICE_SECONDS", 0.0)  # give way after each
    runtime, counting, second = _runtime()

    async def three_readers() -> list[dict[str, Any]]:
        return await asyncio.gather(*(runtime.fresh_snapshots() for _ in range(3)))

    results = asyncio.run(three_readers())
    names = sorted(runtime.engine.queues)
    assert len(names) == 40
    assert counting.computed == Counter(names)  # each once, by whichever reader came first
    expected = msgspec.to_builtins(runtime.engine.snapshot(second, channels=False))
    for snapshots in results:
        assert sorted(snapshots) == names
        assert msgspec.to_builtins(snapshots) == expected
