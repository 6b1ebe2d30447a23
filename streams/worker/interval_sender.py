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

On the embedded broker every record is a batch of its own, as its Faust producer sends them
(Tansu answers ListOffsets "latest" wrongly for batches of several records:
streams/broker/embedded.py).
"""

from __future__ import annotations

import asyncio
import contextlib
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
        one_per_batch: bool = False,
        batch_bytes: int = BATCH_BYTES,
        start_seconds: float = START_SECONDS,
    ) -> None:
        self.kafka = kafka
        self.start_seconds = start_seconds
        self.topic = topic
        self.one_per_batch = one_per_batch
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
        self._fail(self._queue, asyncio.CancelledError())
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
            try:
                delivered = await self._send_batches(taken)
            except Exception as error:  # any failure fails what waits for it
                self._fail(taken, error)
                continue
            _when_all(delivered, [future for _, future in taken])

    async def _send_batches(self, taken: list[tuple[Records, asyncio.Future[None]]]) -> list[Any]:
        """Each record of ``taken`` appended to a record batch, each batch handed to the
        producer; the futures of the batches' delivery."""
        producer = await self._started()
        delivered: list[Any] = []
        batch = producer.create_batch()
        held = 0
        for records, _ in taken:
            for key, value in records:
                if held and (
                    self.one_per_batch or batch.append(key=key, value=value, timestamp=None) is None
                ):
                    delivered.append(await self._send_one(producer, batch))
                    batch, held = producer.create_batch(), 0
                if not held and batch.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"interval record of {len(value)} bytes fits no batch")
                held += 1
        if held:
            delivered.append(await self._send_one(producer, batch))
        return delivered

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

    @staticmethod
    def _fail(taken: list[tuple[Records, asyncio.Future[None]]], error: BaseException) -> None:
        for _, future in taken:
            if not future.done():
                if isinstance(error, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(error)


def _when_all(delivered: list[Any], waiting: list[asyncio.Future[None]]) -> None:
    """Resolve ``waiting`` once every one of ``delivered`` is done: with the first failure, or
    with None."""
    left = len(delivered)

    def done(_: Any) -> None:
        nonlocal left
        left -= 1
        if left > 0:
            return
        failed = next((d for d in delivered if d.cancelled() or d.exception()), None)
        for future in waiting:
            if future.done():
                continue
            if failed is None:
                future.set_result(None)
            elif failed.cancelled():
                future.cancel()
            else:
                future.set_exception(failed.exception())

    if not delivered:
        done(None)
    for future in delivered:
        future.add_done_callback(done)
