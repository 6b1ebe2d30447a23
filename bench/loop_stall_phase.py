"""Loop stalls: how long the worker's event loop is held while it takes a steady load over
1,000 queues, without and with a full /metrics scrape every few seconds, read from its own
loop-lag histogram; beside it, a process whose loop has nothing else to do, probed the same way
(docs/performance.md, At scale)."""

from __future__ import annotations

import argparse
import re
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

from bench.machine import cpu_seconds
from bench.stats import summary
from bench.worker_phase import (
    Progress,
    applied_total,
)

__all__ = [
    "gc_figures",
    "gc_histograms",
    "histogram_quantile",
    "how_served",
    "idle_figures",
    "lag_histogram",
    "loop_stalls",
    "stall_figures",
]


LAG = "ccpulse_event_loop_lag_seconds"


GC = "ccpulse_gc_pause_seconds"
LAG_QUERY = f"/metrics?name[]={LAG}_bucket&name[]={LAG}_count&name[]={LAG}_sum&name[]={GC}_bucket"


Histogram = dict[float, float]
"""Cumulative counts by upper bound (``le``), ``inf`` included."""


def lag_histogram(body: bytes) -> Histogram:
    """The loop-lag histogram's cumulative buckets from a /metrics body."""
    found = re.findall(rb"^" + LAG.encode() + rb'_bucket\{le="([^"]+)"\} (\S+)$', body, re.M)
    return {float(le): float(count) for le, count in found}


def gc_histograms(body: bytes) -> dict[str, Histogram]:
    """The garbage collector's pause histograms (streams/worker/loop_lag.py), by generation."""
    found = re.findall(
        rb"^" + GC.encode() + rb'_bucket\{generation="(\d)",le="([^"]+)"\} (\S+)$', body, re.M
    )
    out: dict[str, Histogram] = {}
    for generation, le, count in found:
        out.setdefault(generation.decode(), {})[float(le)] = float(count)
    return out


def gc_figures(
    before: dict[str, Histogram], after: dict[str, Histogram], limit: float = 0.025
) -> dict[str, Any]:
    """Per generation, the collections between two readings, how many paused the worker
    longer than ``limit`` and the bucket of the longest: what of the stalls the collector was."""
    out = {}
    for generation, buckets in sorted(after.items()):
        delta = _between(before.get(generation, {}), buckets)
        count = delta.get(float("inf"), 0.0)
        out[generation] = {
            "collections": count,
            "over_limit": count - delta.get(limit, count),
            "longest_at_most_seconds": _longest_bound(delta) if count else None,
        }
    return out


def _between(before: Histogram, after: Histogram) -> Histogram:
    """The observations between two readings of one histogram's cumulative buckets."""
    return {le: count - before.get(le, 0.0) for le, count in after.items()}


def _longest_bound(delta: Histogram) -> float | None:
    """The lowest bound whose bucket holds every observation: the longest was at most that."""
    count = delta.get(float("inf"), 0.0)
    return next((le for le in sorted(delta) if delta[le] >= count), None)


def histogram_quantile(q: float, buckets: Histogram) -> float | None:
    """PromQL's ``histogram_quantile``: linear inside the bucket that holds rank ``q * count``;
    the highest finite bound when that rank falls in ``+Inf``. None without observations."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            inside = count - previous_count
            share = (rank - previous_count) / inside if inside else 1.0
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return previous_bound


def stall_figures(before: Histogram, after: Histogram, limit: float = 0.025) -> dict[str, Any]:
    """The stalls between two readings of the histogram: how many wake-ups, the share within
    ``limit`` (a bucket bound, so exact), and the interpolated p50/p99 (as Prometheus would)."""
    delta = _between(before, after)
    count = delta.get(float("inf"), 0.0)
    return {
        "wakeups": count,
        "share_within_limit": delta[limit] / count if count else None,
        "limit_seconds": limit,
        "p50_seconds": histogram_quantile(0.5, delta),
        "p99_seconds": histogram_quantile(0.99, delta),
        "longest_at_most_seconds": _longest_bound(delta),
    }


def _get(url: str, durations: list[float] | None = None) -> bytes:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = bytes(response.read())
    if durations is not None:
        durations.append(time.perf_counter() - started)
    return body


HEAD_BYTES = 1 << 20
"""The start of a page that holds the worker's own series (a few hundred kilobytes at most)."""
SERVED = re.compile(rb'^ccpulse_metrics_scrapes_total\{page="(\w+)"\} (\S+)$', re.M)


def how_served(body: bytes, served: dict[str, float]) -> str:
    """Whether the scrape that returned ``body`` got a page prepared ahead or computed on its
    arrival (streams/views/prepared_page.py): the counter the page itself carries (rendered
    after it was counted) against the last scrape's; ``served`` is updated."""
    # The worker's own series come first on the page (streams/views/routes.py): reading only
    # its head spares the scraper a regular-expression pass over 13 MB on every scrape, CPU it
    # took from the 2 cores the worker measured shares (a real Prometheus runs elsewhere).
    head = body[:HEAD_BYTES]
    counts = {kind.decode(): float(value) for kind, value in SERVED.findall(head)}
    grown = [kind for kind, count in counts.items() if count > served.get(kind, 0.0)]
    served.update(counts)
    return grown[0] if len(grown) == 1 else "unknown"


def _steady_load(bootstrap: str, topics: dict[str, str], rate: float, seconds: float, queues: int):
    """A child process sending ``rate`` events/s over ``queues`` queues (freshness_phase's load)."""
    import multiprocessing

    from bench import freshness_phase

    context = multiprocessing.get_context("fork")
    ready = context.Event()
    child = context.Process(
        target=freshness_phase.background_load,
        args=(bootstrap, topics, rate, seconds, 0.1, ready, None, queues),
        daemon=True,
    )
    child.start()
    if not ready.wait(180.0):
        child.terminate()
        raise RuntimeError("the load generator did not start within 180 s")
    return child


def _idle_loop(seconds: float, out: Any) -> None:
    """Child process: an event loop with nothing else to do, woken every 50 ms as the worker's
    probe is; puts (wall time, lag) of each wake-up on ``out``."""
    import asyncio

    async def run() -> list[tuple[float, float]]:
        loop = asyncio.get_running_loop()
        lags = []
        end = time.time() + seconds
        while time.time() < end:
            due = loop.time() + 0.05
            await asyncio.sleep(0.05)
            lags.append((time.time(), max(0.0, loop.time() - due)))
        return lags

    out.put(asyncio.run(run()))


def idle_figures(lags: Sequence[tuple[float, float]], start: float, end: float) -> dict[str, Any]:
    """The idle loop's wake-ups between ``start`` and ``end`` (wall time): how many, the share
    within 25 ms, p99 and the longest: what the machine alone does to a loop meanwhile."""
    within = [lag for at, lag in lags if start <= at <= end]
    if not within:
        return {"wakeups": 0}
    return {
        "wakeups": len(within),
        "share_within_limit": sum(1 for lag in within if lag <= 0.025) / len(within),
        "p99_seconds": summary(within)["p99"],
        "longest_seconds": max(within),
    }


def loop_stalls(
    worker: Any,
    bootstrap: str,
    topics: dict[str, str],
    args: argparse.Namespace,
    progress: Progress,
) -> dict[str, Any]:
    """Stalls and worker CPU without scrapes, then with a full scrape every interval."""
    import multiprocessing

    seconds = args.stall_seconds
    load = _steady_load(bootstrap, topics, args.rate, 2 * seconds + 10.0, args.scale_queues)
    context = multiprocessing.get_context("fork")
    idle_out = context.Queue()
    idle = context.Process(target=_idle_loop, args=(2 * seconds + 10.0, idle_out), daemon=True)
    idle.start()
    spans: dict[str, tuple[float, float]] = {}
    halves: dict[str, Any] = {}
    scrapes: list[float] = []
    sizes: list[int] = []
    kinds: list[str] = []
    served: dict[str, float] = {}
    try:
        time.sleep(5.0)
        for name in ("without_scrapes", "with_scrapes"):
            applied = applied_total(worker)
            cpu = cpu_seconds(worker.process.pid)
            reading = _get(worker.url + LAG_QUERY)
            before, gc_before = lag_histogram(reading), gc_histograms(reading)
            wall = time.time()
            started = time.perf_counter()
            next_scrape = started
            while time.perf_counter() - started < seconds:
                if name == "with_scrapes" and time.perf_counter() >= next_scrape:
                    body = _get(worker.url + "/metrics", scrapes)
                    sizes.append(len(body))
                    kinds.append(how_served(body, served))
                    next_scrape += args.scrape_interval
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            spans[name] = (wall, time.time())
            reading = _get(worker.url + LAG_QUERY)
            after = lag_histogram(reading)
            halves[name] = {
                **stall_figures(before, after),
                "gc": gc_figures(gc_before, gc_histograms(reading)),
                "seconds": elapsed,
                "events": applied_total(worker) - applied,
                "worker_cores": (cpu_seconds(worker.process.pid) - cpu) / elapsed,
            }
            progress(
                f"  {name}: stall p99 {1000 * (halves[name]['p99_seconds'] or 0):.1f} ms, "
                f"worker {halves[name]['worker_cores']:.2f} cores"
            )
        lags = idle_out.get(timeout=2 * seconds + 60.0)
        for name, (start, end) in spans.items():
            halves[name]["idle_process"] = idle_figures(lags, start, end)
    finally:
        load.join(timeout=30.0)
        for child in (load, idle):
            if child.is_alive():
                child.terminate()
    calm, busy = halves["without_scrapes"], halves["with_scrapes"]
    extra_cpu = (busy["worker_cores"] - calm["worker_cores"]) * busy["seconds"]
    return {
        **halves,
        "queues": args.scale_queues,
        "rate": args.rate,
        "scrape_interval_seconds": args.scrape_interval,
        "scrape_seconds": summary(scrapes),
        "scrape_prepared_seconds": summary(
            [t for t, kind in zip(scrapes, kinds, strict=True) if kind == "prepared"]
        ),
        "scrape_on_request_seconds": summary(
            [t for t, kind in zip(scrapes, kinds, strict=True) if kind == "on_request"]
        ),
        "scrape_kinds": kinds,
        "scrape_bytes": max(sizes, default=0),
        "exposition_cpu_seconds_per_scrape": extra_cpu / len(scrapes) if scrapes else None,
        "exposition_cpu_seconds_per_event": extra_cpu / busy["events"] if busy["events"] else None,
    }
