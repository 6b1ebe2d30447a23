"""Publishing closed 15-minute intervals to the compacted topic ``ccpulse.intervals``.

:class:`processors.intervals.IntervalTracker` decides which records are due; this sends them,
keyed by queue and interval start, and confirms each into its queue's state once Kafka has it
(so the next snapshot in the changelog remembers it). Called after each applied batch for the
queues it touched: the records go into the batch's ``sent`` list, so its source offsets are
acked only once they are in Kafka too (streams/worker/delivery.py). After a recovery every
retained closed interval of the recovered queues is looked at again: a record sent before a
crash and never confirmed is sent again, the same key and the same value (exactly once in
effect on a compacted topic; docs/reports.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from processors.engine import KpiEngine
from processors.intervals import ClosedInterval, IntervalTracker
from processors.state import QueueState
from streams.worker.delivery import Deliveries

__all__ = ["IntervalPublisher"]


class IntervalPublisher:
    """Sends due interval records through a Faust topic and confirms them on delivery."""

    def __init__(self, topic: Any, engine: KpiEngine, deliveries: Deliveries) -> None:
        self.topic = topic
        self.engine = engine
        self.tracker = IntervalTracker(engine)
        self.deliveries = deliveries
        self.published = 0
        """Records sent (a republished interval counts again)."""

    def publish(
        self, queues: Iterable[str], full: bool = False
    ) -> list[asyncio.Future[Any] | None]:
        """Send the due records of ``queues`` (``full``: every retained closed interval, after
        a recovery); what the sends returned."""
        if full:
            self.tracker.forget([q for q in self.tracker.queues() if q not in self.engine.queues])
        sent: list[asyncio.Future[Any] | None] = []
        for interval in self.tracker.due(queues, full):
            state = self.engine.queues[interval.queue]
            future = self.deliveries.track(
                self.topic.send_soon(key=interval.key, value=interval.value)
            )
            self.published += 1
            if future is None:
                self.tracker.confirmed(interval, state)
            else:
                future.add_done_callback(self._on_delivery(interval, state))
            sent.append(future)
        return sent

    def _on_delivery(self, interval: ClosedInterval, state: QueueState) -> Any:
        def done(future: asyncio.Future[Any]) -> None:
            if not future.cancelled() and future.exception() is None:
                self.tracker.confirmed(interval, state)

        return done
