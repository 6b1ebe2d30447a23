"""The worker's Faust consumer: a subclass given to the app through its transport.

Faust builds its consumer from ``app.transport.Consumer`` (``App._new_consumer`` calls
``transport.create_consumer``), and the app's transport is a public, settable property. So the
worker's app gets :class:`WorkerTransport`, whose :class:`BatchConsumer` changes three things,
for that app only (no class of the library is changed for the process):

* its drain loop hands the source topics' records over as whole fetches
  (:mod:`streams.faust_adapter.batch_fetch`);
* its commit finds the offset to commit in C (:func:`streams.faust_adapter.acks.new_offset`);
* its aiokafka consumer is built with the worker's fetch wait. Faust's aiokafka driver
  hard-codes ``fetch_max_wait_ms=1500``; on Apache Kafka that costs nothing (a fetch is
  answered as soon as data is there), but the embedded broker (Tansu) often holds a fetch for
  the whole wait, so every batch could be up to 1.5 s old before the worker saw it (measured by
  ``make bench``, docs/performance.md). The wait is ``worker.fetch_max_wait_ms``
  (streams/config.py: 1500 ms on Apache Kafka, 100 ms on the embedded broker).
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.faust_adapter.acks import new_offset
from streams.faust_adapter.batch_fetch import drain_messages
from streams.worker.fetched import FetchedBatches

__all__ = ["BatchConsumer", "FetchWaitThread", "WorkerTransport", "install_worker_transport"]


class WorkerTransport(faust_aiokafka.Transport):  # type: ignore[misc]
    """Faust's aiokafka transport, building a :class:`BatchConsumer`."""

    Consumer = None  # set below, once BatchConsumer exists

    def __init__(self, url: Any, app: Any, fetched: FetchedBatches, fetch_max_wait_ms: int) -> None:
        super().__init__(url, app)
        self.fetched = fetched
        """Where :class:`BatchConsumer` puts the source topics' records."""
        self.fetch_max_wait_ms = fetch_max_wait_ms


class FetchWaitThread(faust_aiokafka.AIOKafkaConsumerThread):  # type: ignore[misc]
    """Faust's consumer thread, whose worker consumer waits ``fetch_max_wait_ms`` per fetch."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka keeps the argument until start() builds its fetcher from it.
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer


class BatchConsumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    """Faust's aiokafka consumer with the batch drain loop and the C commit offsets."""

    def _new_consumer_thread(self) -> FetchWaitThread:
        return FetchWaitThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        await drain_messages(self, fetcher, self.transport.fetched)

    def _new_offset(self, tp: Any) -> int | None:
        return new_offset(self, tp)


WorkerTransport.Consumer = BatchConsumer


def install_worker_transport(app: Any, fetched: FetchedBatches, fetch_max_wait_ms: int) -> None:
    """Give ``app`` the worker's transport (call before anything asks for its consumer)."""
    app.transport = WorkerTransport(app.conf.broker_consumer, app, fetched, fetch_max_wait_ms)
