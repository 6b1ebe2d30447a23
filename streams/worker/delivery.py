"""Acting on a record only once Kafka has it: acks and delta deletions wait for delivery.

A send through Faust (``table.send_changelog``, ``topic.send_soon``) only queues the record: it
sits in Faust's producer buffer, then in aiokafka's accumulator, and is in Kafka when the
future the send returned is done. Faust flushes the producer before it commits offsets, but
its buffer's flush gives up after 0.1 s without a record sent (``ProducerBuffer.flush_atmost``
in faust/transport/producer.py) and aiokafka's flush then covers only what reached it: on a
slow broker a commit can pass records still in the buffer, and a SIGKILL then loses them while
their offsets are committed. So nothing that depends on a record being in Kafka (acking the
source offsets a delta holds, deleting the deltas a snapshot covers) is done when it is sent:
:meth:`Deliveries.then` does it when every record it depends on is delivered, and never if
one failed, in which case the worker is stopped (``on_failure``): what is not in Kafka is
then read again by the next owner from the last committed offsets (docs/deploy.md, rule 4).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Deliveries"]


class Deliveries:
    """The records sent and not yet in Kafka, and what waits for them."""

    def __init__(self, on_failure: Callable[[BaseException], object]) -> None:
        self.on_failure = on_failure
        self.failure: BaseException | None = None
        """The first send that failed (nothing that waited for it was done)."""
        self._pending: list[tuple[asyncio.Future[Any], int]] = []

    def track(self, sent: object, events: int = 0) -> asyncio.Future[Any] | None:
        """Remember what a send returned (a future done once the record is in Kafka; anything
        else is taken as delivered), holding ``events`` applied events; the future, if any."""
        if not isinstance(sent, asyncio.Future):
            return None
        if sent.done():
            self._check(sent)
        else:
            self._pending.append((sent, events))
            sent.add_done_callback(self._check)
        return sent

    def then(
        self, futures: Iterable[asyncio.Future[Any] | None], action: Callable[[], object]
    ) -> None:
        """Run ``action`` once every one of ``futures`` is delivered: at once if they all are
        (or there are none), never if one of them failed."""
        waiting = [f for f in futures if f is not None]
        if any(f.done() and self._failed(f) for f in waiting):
            return
        pending = [f for f in waiting if not f.done()]
        if not pending:
            action()
            return
        left = len(pending)

        def done(future: asyncio.Future[Any]) -> None:
            nonlocal left
            if left <= 0:
                return
            if self._failed(future):
                left = 0  # reported by _check, the callback track() added
                return
            left -= 1
            if left == 0:
                action()

        for future in pending:
            future.add_done_callback(done)

    def in_flight(self) -> int:
        """Applied events held by records not yet in Kafka."""
        self._pending = [(f, n) for f, n in self._pending if not f.done()]
        return sum(n for _, n in self._pending)

    def pending(self) -> list[asyncio.Future[Any]]:
        return [f for f, _ in self._pending if not f.done()]

    async def wait(self, timeout: float | None) -> bool:
        """Wait (at most ``timeout`` seconds; None: for as long as it takes) until every record
        sent so far is delivered or failed; whether all are delivered."""
        pending = self.pending()
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        else:
            await asyncio.sleep(0)  # a caller waiting in a loop must let the others run
        return not self.pending() and self.failure is None

    @staticmethod
    def _failed(future: asyncio.Future[Any]) -> bool:
        return future.cancelled() or future.exception() is not None

    def _check(self, future: asyncio.Future[Any]) -> None:
        if not self._failed(future):
            return
        error = asyncio.CancelledError() if future.cancelled() else future.exception()
        assert error is not None
        if self.failure is None:
            self.failure = error
            self.on_failure(error)
