"""The CPU cost of the Prometheus exposition, in process: what one full /metrics scrape of
many queues costs, and per event of the traffic between two scrapes.

Measured on an engine holding the scale phase's queues (bench/scale_phase.py), with
``time.process_time`` (CPU, not wall time, so other processes on the machine do not count):

* the snapshots of every queue at a second, computed as the worker computes them for a scrape
  (:func:`_as_the_worker`: a queue at a time, ``WorkerRuntime.fresh_snapshots``);
* the page as the worker renders it now (streams/views/exposition.py), the first time and
  again after ``interval`` seconds of traffic at ``rate`` (its kept lines reused where a
  queue's values did not change);
* the page as prometheus_client's collectors render it (streams/views/metrics.py with
  ``generate_latest``), the way /metrics was rendered before: the comparison of the two;
* the longest event-loop stall while each renders (a loop-lag probe beside it, in process).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from processors.engine import KpiEngine
from processors.events import Event
from processors.snapshot import QueueSnapshot
from processors.snapshot_cache import SnapshotCache
from streams.views.exposition import KpiPage
from streams.views.metrics import KpiCollector
from streams.worker.loop_lag import LoopLagProbe

__all__ = ["exposition_cost"]

BATCH = 5000


def _cpu(work: Any) -> tuple[float, Any]:
    started = time.process_time()
    result = work()
    return time.process_time() - started, result


def _longest_stall(work: Callable[[], Awaitable[Any]]) -> float:
    """The longest event-loop stall while ``work`` runs, as the worker's probe sees it (woken
    every 2 ms here): wall time, so other processes on the machine add to it."""

    async def run() -> float:
        probe = LoopLagProbe(CollectorRegistry(), interval=0.002)
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0.01)
        await work()
        await asyncio.sleep(0.01)
        task.cancel()
        return probe.longest

    return asyncio.run(run())


def _as_the_worker(cache: SnapshotCache, at: int) -> dict[str, QueueSnapshot]:
    """The snapshots of every queue at ``at`` the way streams/worker/runtime.py's
    ``fresh_snapshots`` computes them between its yields to the event loop: the stale queues
    one at a time, then the ones kept."""
    for name in cache.stale(at):
        cache.refresh(at, [name])
    return cache.kept(at)


def exposition_cost(
    events: Sequence[Event], rate: float, interval: float, scrapes: int = 3
) -> dict[str, Any]:
    """Apply ``events`` but the last ``scrapes * rate * interval`` of them, then scrape; apply
    ``rate * interval`` more, scrape again, ``scrapes`` times (module docstring)."""
    between = int(rate * interval)
    history = len(events) - scrapes * between
    if history <= 0:
        raise ValueError(f"{len(events)} events leave no history before {scrapes} scrapes")
    engine = KpiEngine()
    for first in range(0, history, BATCH):
        engine.apply_all(list(events[first : min(first + BATCH, history)]))
    cache = SnapshotCache(engine)
    page = KpiPage()

    def second() -> int:
        return math.floor(max(s.watermark or 0.0 for s in engine.queues.values()))

    at = second()
    snapshot_cpu, snapshots = _cpu(lambda: _as_the_worker(cache, at))
    registry = CollectorRegistry(auto_describe=True)
    KpiCollector(lambda: snapshots, lambda: engine.queues).register(registry)
    collectors_cpu, old = _cpu(lambda: generate_latest(registry))
    first_cpu, new = _cpu(lambda: asyncio.run(page.render(snapshots, engine.queues)))

    async def collectors() -> None:
        generate_latest(registry)  # as /metrics did: in one go on the loop

    async def kept_page() -> None:
        await page.render(snapshots, engine.queues)

    stalls = {
        "collectors": _longest_stall(collectors),
        "page_kept": _longest_stall(kept_page),
    }
    later: list[dict[str, float]] = []
    for index in range(scrapes):
        start = history + index * between
        applied = list(events[start : start + between])
        engine.apply_all(applied)
        cache.touch({event.queue for event in applied})
        at = max(at + math.ceil(interval), second())
        snap_cpu, snapshots = _cpu(lambda at=at: _as_the_worker(cache, at))
        render_cpu, _ = _cpu(
            lambda snapshots=snapshots: asyncio.run(page.render(snapshots, engine.queues))
        )
        later.append({"snapshots": snap_cpu, "render": render_cpu, "events": len(applied)})
    snapshots = cache.snapshots(at + 1)  # a new second: every queue's page part is compared
    stalls["page_after_a_second"] = _longest_stall(kept_page)
    per_scrape = sum(s["snapshots"] + s["render"] for s in later) / len(later)
    return {
        "queues": len(engine.queues),
        "series": new.count(b"\n") - 2 * len(page.headers),
        "page_bytes": len(new),
        "collectors_page_bytes": len(old),
        "first_scrape": {
            "snapshots_cpu_seconds": snapshot_cpu,
            "render_cpu_seconds": first_cpu,
            "collectors_render_cpu_seconds": collectors_cpu,
        },
        "later_scrapes": later,
        "rate": rate,
        "interval_seconds": interval,
        "cpu_seconds_per_scrape": per_scrape,
        "cpu_seconds_per_event": per_scrape / between,
        "render_cpu_seconds_per_scrape": sum(s["render"] for s in later) / len(later),
        "longest_stall_seconds": stalls,
    }
