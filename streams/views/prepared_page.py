"""The per-queue families of a full ``/metrics`` page (KPIs and agents), prepared just before
Prometheus's next scrape.

Computing the KPI families of 1,000 queues costs the event loop about half a second of CPU
(every queue's snapshot, then 13 MB of text), done in 5 ms slices between batches so that
nothing else waits long. A scrape that started that work on arrival was answered after
0.7-1 s (``make bench``, "Loop stalls"). Prometheus scrapes a target at a steady interval,
so the work can be done ahead: :class:`PreparedPage` learns the interval from the scrapes'
arrivals and starts the next page so that it is ready shortly before the next scrape, which is
then answered at once.

The rules that keep a served page honest:

- A page is served only if its preparation started at most ``max_age`` seconds before the
  scrape (``metrics.prepared_page_max_age_seconds``): its figures are the KPIs of that second.
  Otherwise the scrape computes the page on arrival, as before: the first scrape, a scrape
  after a rebalance, a scraper with no steady interval.
- :meth:`PreparedPage.drop` (the worker calls it when its assignment changes:
  :meth:`streams.worker.runtime.WorkerRuntime.invalidate`) forgets the page, and a preparation
  under way then is not kept: a page never holds a queue this worker no longer owns.
- Only a slow page is prepared ahead: one that took at least ``min_duration`` seconds
  (``metrics.prepare_ahead_from_seconds``, 0.25 s) the last time. A quicker one is computed
  for each scrape, so a client that reads ``/metrics`` right
  after its events were applied sees them (the tests do; so may a person with curl).
- No scrape, no work: nothing is prepared until scrapes have come at a steady interval, nor
  when a page takes more than half the interval to prepare (then there is no quiet time to
  move the work into, and preparing ahead would only add work).
- The worker's own health (``ccpulse_events_total``, lag, the loop probe) is not prepared: the
  caller renders it fresh for every scrape. So is a scrape restricted with ``name[]=``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry

from streams.logs import log
from streams.metric_spec import MetricSpec

__all__ = ["PAGE_METRICS", "PreparedPage"]

logger = logging.getLogger(__name__)

SCRAPES = MetricSpec(
    "ccpulse_metrics_scrapes",
    "counter",
    "Full /metrics scrapes, by how their KPI families were had: prepared ahead of the scrape "
    "or computed on its arrival (streams/views/prepared_page.py).",
    ("page",),
)
PAGE_AGE = MetricSpec(
    "ccpulse_metrics_page_age_seconds",
    "gauge",
    "Seconds between the start of computing the KPI families of the last full /metrics "
    "scrape and its answer (their figures are of that start's second).",
)
PAGE_METRICS: tuple[MetricSpec, ...] = (SCRAPES, PAGE_AGE)

LEAD_FACTOR = 1.25
"""A preparation starts this many times its last duration before the next scrape is due..."""
LEAD_SECONDS = 0.25
"""... plus this margin (the loop's other work, a scrape a little early)."""
SHORTEST_INTERVAL = 0.5
"""Gaps shorter than this are not an interval (two scrapers, a person with curl). The last
longer gap is taken as the interval: a steady scraper repeats it; after an odd gap (a missed
scrape, a second scraper) at most the next scrape or two compute on arrival."""


Body = TypeVar("Body")
"""What a preparation makes: for /metrics, the page's parts (a list of bytes)."""


@dataclass(frozen=True, slots=True)
class _Page(Generic[Body]):
    body: Body
    started: float


class PreparedPage(Generic[Body]):
    """Prepares the KPI families with ``prepare`` ahead of each expected scrape, and serves
    them when fresh enough (module docstring); ``max_age`` 0: every scrape computes its own;
    ``min_duration``: pages quicker than this to compute are computed for each scrape."""

    def __init__(
        self,
        prepare: Callable[[], Awaitable[Body]],
        max_age: float,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_duration: float = 0.0,
    ) -> None:
        self._prepare = prepare
        self.max_age = max_age
        self.min_duration = min_duration
        """Pages quicker than this to compute are computed for each scrape."""
        self._clock = clock
        self._page: _Page[Body] | None = None
        self._generation = 0
        self._task: asyncio.Future[Body] | None = None
        self._task_started = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._last_arrival: float | None = None
        self._gap: float | None = None
        self.duration: float | None = None
        """Wall seconds the last preparation took."""
        self.served = {"prepared": 0, "on_request": 0}
        self._scrapes = SCRAPES.counter(registry) if registry is not None else None
        self._age = PAGE_AGE.gauge(registry) if registry is not None else None

    async def body(self) -> Body:
        """The KPI families for a full scrape arriving now: the prepared page when it is
        fresh enough, else computed now (or the preparation under way, awaited)."""
        now = self._clock()
        self._arrived(now)
        page = self._page
        if page is not None and now - page.started <= self.max_age and self._slow():
            how, body, started = "prepared", page.body, page.started
        else:
            how = "on_request"
            task = self._task if self._task is not None and not self._task.done() else None
            if task is None:
                task = self._begin()
            started = self._task_started
            body = await asyncio.shield(task)
        self.served[how] += 1
        if self._scrapes is not None and self._age is not None:
            self._scrapes.labels(how).inc()
            self._age.set(self._clock() - started)
        self._schedule()
        return body

    def drop(self) -> None:
        """Forget the prepared page, and do not keep the one under way (the worker's
        assignment changed)."""
        self._page = None
        self._generation += 1

    def _arrived(self, now: float) -> None:
        if self._last_arrival is not None and now - self._last_arrival >= SHORTEST_INTERVAL:
            self._gap = now - self._last_arrival
        self._last_arrival = now

    def interval(self) -> float | None:
        """The scrape interval learnt so far (None: fewer than two scrapes)."""
        return self._gap

    def _schedule(self) -> None:
        """Start the next preparation so that it ends just before the next scrape is due."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        interval, last = self.interval(), self._last_arrival
        if self.max_age <= 0 or interval is None or last is None or self.duration is None:
            return
        if not self._slow():
            return  # quick enough to compute for each scrape
        lead = LEAD_FACTOR * self.duration + LEAD_SECONDS
        if lead > interval / 2 or lead > self.max_age:
            return  # no quiet time to move the work into, or it would be too old when served
        delay = max(0.0, last + interval - lead - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _slow(self) -> bool:
        """Whether the last page took long enough to compute to be worth preparing ahead."""
        return self.duration is not None and self.duration >= self.min_duration

    def _on_timer(self) -> None:
        self._timer = None
        if self._task is None or self._task.done():
            self._begin()

    def _begin(self) -> asyncio.Future[Body]:
        generation, started = self._generation, self._clock()
        self._task_started = started

        async def run() -> Body:
            body = await self._prepare()
            self.duration = self._clock() - started
            if generation == self._generation:
                self._page = _Page(body, started)
            return body

        task = asyncio.ensure_future(run())
        task.add_done_callback(_log_failure)
        self._task = task
        return task


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log(
            logger,
            "preparing the /metrics page failed",
            logging.WARNING,
            error=repr(task.exception()),
        )
