"""Interval records go to Kafka in record batches of their own producer, not one Faust send each.

Why: a catch-up closes thousands of 15-minute intervals (a million events of 100 queues over 21
hours sent 16,948 interval records). Through Faust, each was a ``topic.send_soon``: a
``FutureMessage`` in the producer buffer, a ``publish_message`` and an aiokafka ``send`` of its
own, one at a time, each waiting for room in a 16 KB batch of the topic's one partition. That
cost about 200 µs a record and held up the changelog records queued behind them in the same
buffer, so the checkpoint waited for room (``make_room``) a third of the time. Draining
``make bench``'s million events on Apache Kafka 4.3.2, one worker did 57,000-62,000 events/s
with intervals sent that way and 70,000-77,000 with them sent as below, in the same runs (and
76,000-84,000 with them computed and never sent).

So :class:`IntervalSender` takes each batch's records as one list, and a task of its own puts
them into aiokafka record batches (``create_batch``/``send_batch``, aiokafka's public batch API)
of up to ``batch_bytes``, in the order they were sent: one partition, one producer, one batch in
flight at a time, so a later record of a key never overtakes an earlier one. The future
:meth:`IntervalSender.send` returns is done when every record of the list is in Kafka (acks from
all in-sync replicas), or failed with the first error: the worker then stops, as for a
changelog record that failed (streams/worker/delivery.py).

On the embedded broker too: Tansu answers ListOffsets "latest" wrongly for batches of several
records (streams/broker/embedded.py), and nothing reads this topic by that answer (``ccpulse
report`` ends a read at the fetch's highwater: streams/offline/topic_reader.py). One record a
batch there, as the worker's Faust producer sends them, took a round trip per record: 55,000 and
62,000 events/s against 81,000 and 94,000 in batches (the same runs), draining the million
events on the embedded broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any

import aiokafka

from streams.broker.settings import aiokafka_kwargs
from streams.config import KafkaConfig

__all__ = ["BATCH_BYTES", "START_SECONDS", "IntervalSender"]

BATCH_BYTES = 512 * 1024
"""Largest record batch: about a hundred interval records (those of ``make bench``'s simulated
queues are 2.3-6 KB, 4.8 KB on average), below the broker's default ``message.max.bytes``
(1 MB)."""

START_SECONDS = 30.0
"""Longest wait for the producer to connect: a broker it cannot reach fails what waits (the
worker stops, streams/worker/delivery.py) instead of holding the commits for ever."""

Records = list[tuple[bytes, bytes]]


class IntervalSender:
    """Sends lists of (key, value) records to partition 0 of ``topic``, in order."""

    def __init__(
        self,
        kafka: KafkaConfig,
        topic: str,
        batch_bytes: int = BATCH_BYTES,
        start_seconds: float = START_SECONDS,
    ) -> None:
        self.kafka = kafka
        self.start_seconds = start_seconds
        self.topic = topic
        self.batch_bytes = batch_bytes
        self._queue: list[tuple[Records, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: aiokafka.AIOKafkaProducer | None = None
        self.batches = 0
        """Record batches sent (diagnostics and tests)."""

    def send(self, records: Records) -> asyncio.Future[None]:
        """Queue ``records``; the future is done once all of them are in Kafka."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((records, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()
        return future

    async def stop(self) -> None:
        """Stop sending (after the graceful shutdown's wait for what was sent); a list still
        queued fails, so nothing waits for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        _settle([future for _, future in self._queue], asyncio.CancelledError())
        self._queue = []
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            taken, self._queue = self._queue, []
            if not taken:
                continue
            waiting = [future for _, future in taken]
            try:
                producer = await self._started()
                delivered = [
                    await self._send_one(producer, batch)
                    for batch in self._batches(producer, taken)
                ]
            except Exception as error:  # any failure fails what waits for it
                _settle(waiting, error)
                continue
            # Every batch done (return_exceptions: none is cut short), then the first failure.
            outcome = asyncio.gather(*delivered, return_exceptions=True)
            outcome.add_done_callback(functools.partial(_settle_with_outcome, waiting))

    def _batches(
        self, producer: aiokafka.AIOKafkaProducer, taken: list[tuple[Records, asyncio.Future[None]]]
    ) -> list[Any]:
        """The records of ``taken``, in order, in record batches, each as full as it takes."""
        batches: list[Any] = []
        for records, _ in taken:
            for key, value in records:
                if not batches or batches[-1].append(key=key, value=value, timestamp=None) is None:
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"interval record of {len(value)} bytes fits no batch")
                    batches.append(batch)
        return batches

    async def _send_one(self, producer: aiokafka.AIOKafkaProducer, batch: Any) -> Any:
        batch.close()
        self.batches += 1
        return await producer.send_batch(batch, self.topic, partition=0)

    async def _started(self) -> aiokafka.AIOKafkaProducer:
        if self._producer is None:
            producer = aiokafka.AIOKafkaProducer(
                acks="all",
                max_batch_size=self.batch_bytes,
                max_request_size=self.batch_bytes + 64 * 1024,
                **aiokafka_kwargs(self.kafka),
            )
            try:
                await asyncio.wait_for(producer.start(), self.start_seconds)
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer


def _settle_with_outcome(waiting: list[asyncio.Future[None]], outcome: asyncio.Future[Any]) -> None:
    """Resolve ``waiting`` by the first failure among the batches' results, if any."""
    failures = (r for r in outcome.result() if isinstance(r, BaseException))
    _settle(waiting, next(failures, None))


def _settle(waiting: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Resolve ``waiting``: with None, or failed with ``error`` (cancelled for a cancellation)."""
    for future in waiting:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        elif isinstance(error, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(error)
