"""What every wallboard stream sends, computed once a second for all of them, and a cap on how
many streams are open.

Without sharing, each open ``/api/kpis/stream`` computed the snapshots and encoded the document
every second: fifty wall screens cost fifty encodes a second on the worker's event loop, the same
loop that applies events. :class:`WallboardFeed` keeps the last encoded document and its time;
a stream asking within ``interval`` of it gets the same bytes, and the first one to ask after
that computes the next (the others wait for it on a lock rather than computing their own).

``max_streams`` (``worker.wallboard_max_streams``) bounds the open streams: one more is answered
503 with ``Retry-After``, and the browser's EventSource tries again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry

from streams.metric_spec import MetricSpec

__all__ = ["WallboardFeed"]


STREAMS = MetricSpec("ccpulse_wallboard_streams", "gauge", "Open wallboard event streams.")
REFUSED = MetricSpec(
    "ccpulse_wallboard_streams_refused",
    "counter",
    "Wallboard streams refused with 503 (worker.wallboard_max_streams open).",
)
ENCODES = MetricSpec(
    "ccpulse_wallboard_encodes",
    "counter",
    "Wallboard documents computed for the open streams (at most one a second, shared).",
)
WEB_METRICS: tuple[MetricSpec, ...] = (STREAMS, REFUSED, ENCODES)
"""The wallboard feed's metrics (listed by streams/views/metrics_catalog.py)."""


class WallboardFeed:
    def __init__(
        self,
        produce: Callable[[], Awaitable[bytes]],
        max_streams: int,
        registry: CollectorRegistry | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._produce, self._clock, self.interval = produce, clock, interval
        self.max_streams = max_streams
        self._body = b""
        self._at = -math.inf
        self._lock = asyncio.Lock()
        self.open_streams = 0
        self.encodes = ENCODES.counter(registry)
        self.streams = STREAMS.gauge(registry)
        self.streams.set_function(lambda: self.open_streams)
        self.refused = REFUSED.counter(registry)

    def _fresh(self) -> bool:
        return self._clock() - self._at < self.interval

    async def current(self) -> bytes:
        """The document of this second, computed by the first stream that asks for it."""
        if self._fresh():
            return self._body
        async with self._lock:
            if not self._fresh():  # nobody computed it while this one waited for the lock
                self._body = await self._produce()
                self._at = self._clock()
                self.encodes.inc()
            return self._body

    def open(self) -> bool:
        """Take a stream slot; False (and counted) when all ``max_streams`` are taken."""
        if self.open_streams >= self.max_streams:
            self.refused.inc()
            return False
        self.open_streams += 1
        return True

    def close(self) -> None:
        self.open_streams -= 1
