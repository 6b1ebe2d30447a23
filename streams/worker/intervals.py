"""Publishing closed 15-minute intervals to the compacted topic ``ccpulse.intervals``.

:class:`processors.intervals.IntervalTracker` decides which records are due; this sends them
(streams/worker/interval_sender.py: in record batches, one list per call),
keyed by queue and interval start, and confirms each into its queue's state once Kafka has it
(so the next snapshot in the changelog remembers it). Called after each applied batch for the
queues it touched: the records of the intervals the batch closed go into the batch's ``sent``
list, so its source offsets are acked only once they are in Kafka too
(streams/worker/delivery.py). A change to an interval already published (a late event, or the
other family's topic read behind this one) is sent by :meth:`IntervalPublisher.flush`, every
``REPUBLISH_SECONDS``: in a catch-up where the ticketing topic was read hours behind the
telephony topic, every batch changed hours of published intervals, and republishing them per
batch sent 132,727 records for 200,000 events (11,473 flushed every 50 batches, the same last
record per key). That is exact without tying them to a batch: after a recovery every retained
closed interval of the recovered queues is looked at again, and a record whose change was
never confirmed is sent again, the same key and the same value (exactly once in effect on a
compacted topic; docs/reports.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from processors.engine import KpiEngine
from processors.intervals import ClosedInterval, IntervalTracker
from processors.state import QueueState
from streams.worker.delivery import Deliveries
from streams.worker.interval_sender import IntervalSender

__all__ = ["REPUBLISH_SECONDS", "IntervalPublisher"]

REPUBLISH_SECONDS = 5.0
"""How often changes to intervals already published are sent (:meth:`IntervalPublisher.flush`)."""


class IntervalPublisher:
    """Sends due interval records and confirms them on delivery."""

    def __init__(self, sender: IntervalSender, engine: KpiEngine, deliveries: Deliveries) -> None:
        self.sender = sender
        self.engine = engine
        self.tracker = IntervalTracker(engine, defer_republish=True)
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
        return self._send(self.tracker.due(queues, full))

    def flush(self) -> int:
        """Send the changes to intervals already published (every ``REPUBLISH_SECONDS``);
        how many records."""
        intervals = self.tracker.flush()
        self._send(intervals)
        return len(intervals)

    def _send(self, intervals: list[ClosedInterval]) -> list[asyncio.Future[Any] | None]:
        """One send for all of ``intervals``; each is confirmed into its queue's state (the
        one it was computed from) once all are in Kafka."""
        if not intervals:
            return []
        states = [self.engine.queues[interval.queue] for interval in intervals]
        future = self.sender.send([(interval.key, interval.value) for interval in intervals])
        self.deliveries.track(future)
        self.published += len(intervals)
        future.add_done_callback(self._on_delivery(intervals, states))
        return [future]

    def _on_delivery(self, intervals: list[ClosedInterval], states: list[QueueState]) -> Any:
        def done(future: asyncio.Future[Any]) -> None:
            if not future.cancelled() and future.exception() is None:
                for interval, state in zip(intervals, states, strict=True):
                    self.tracker.confirmed(interval, state)

        return done
