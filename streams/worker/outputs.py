"""The records a batch produces besides its changelog deltas: dead letters, re-keyed records
and the engine's forwarded events.

Each send returns what the producer returned; the checkpoint (streams/worker/checkpoint.py)
stages them with the batch's deltas, and the batch's offsets are marked committable only once
they are in Kafka too (streams/worker/delivery.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from processors.events import Event
from streams.logs import log
from streams.worker.codec import DecodeFailure, encode_event
from streams.worker.deadletter import LogBudget, deadletter_record

if TYPE_CHECKING:
    from streams.views.metrics import PipelineMetrics  # types only (tests/test_layering.py)

__all__ = ["Outputs", "SendTopic"]

logger = logging.getLogger("ccpulse.worker")


class SendTopic(Protocol):
    """A topic the worker produces to (a Faust topic: ``send_soon`` returns a future-like)."""

    def send_soon(self, *, key: bytes | None, value: bytes) -> Any: ...


class Outputs:
    """Sends a batch's dead letters, re-keyed records and forwarded events, and counts them."""

    def __init__(
        self,
        deadletter: SendTopic,
        rekey: Mapping[str, SendTopic],
        ticketing: SendTopic,
        metrics: PipelineMetrics,
        keep_bytes: int,
    ) -> None:
        self.deadletter = deadletter
        self.rekey_topics = rekey
        """Source topic name -> that topic, to send a re-keyed record back to."""
        self.ticketing = ticketing
        self.metrics = metrics
        self.keep_bytes = keep_bytes
        """How much of a dead-lettered record's original value is kept."""

    def dead_letter(self, message: Any, failure: DecodeFailure) -> Any:
        """Send ``message`` to the dead-letter topic: a record of bounded size, whatever the
        original's (streams/worker/deadletter.py); its key is the original's, cut to the same
        bound. What the send returned."""
        source = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        value = message.value if isinstance(message.value, bytes) else b""
        record = deadletter_record(
            value, failure.reason, failure.reason_code, source, keep_bytes=self.keep_bytes
        )
        key = message.key[:1024] if isinstance(message.key, bytes) else None
        sent = self.deadletter.send_soon(key=key, value=record)
        self.metrics.deadlettered.labels(message.topic, failure.reason_code).inc()
        if _DEADLETTER_LOG.allow(time.monotonic()):
            log(
                logger,
                "event dead-lettered",
                logging.WARNING,
                reason_code=failure.reason_code,
                reason=failure.reason[:200],
                not_logged_since_last=_DEADLETTER_LOG.take_suppressed(),
                **source,
            )
        return sent

    def rekey(self, message: Any, event: Event) -> Any:
        """A producer that did not key by queue: send the record again keyed by its queue, so
        the queue's state stays on one partition. Counted, never dropped."""
        sent = self.rekey_topics[message.topic].send_soon(
            key=event.queue.encode(), value=message.value
        )
        self.metrics.rekeyed.labels(message.topic).inc()
        return sent

    def forward(self, event: Event) -> Any:
        """An event the engine derived for the ticketing topic (processors/engine.py)."""
        return self.ticketing.send_soon(key=event.queue.encode(), value=encode_event(event))


_DEADLETTER_LOG = LogBudget(lines=20, seconds=10.0)
"""A flood of bad records (20,000 made-up queues) must not become a flood of log lines: every
one is on the dead-letter topic and counted; the log shows 20 per 10 s and how many it skipped."""
