"""Produce a batch of records with kafka-python and know that Kafka acknowledged all of it.

The adapters advance their own position (a file offset) or answer a sender only after
:meth:`AckedProducer.send_all` returned, so a crash in between re-sends (at-least-once) rather
than loses; deterministic event ids make the re-sent events duplicates the worker ignores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from processors.events import Event
from streams.config import Config
from streams.deadletter import deadletter_record
from streams.simulator.output import topic_for

__all__ = ["AckedProducer", "Record", "deadletter", "event_record"]

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes


def event_record(event: Event, config: Config) -> Record:
    """An event on its family's topic, keyed by its queue (one queue = one partition)."""
    topic = topic_for(event, config.topics.telephony, config.topics.ticketing)
    return Record(topic, event.queue.encode(), _encoder.encode(event))


def deadletter(
    config: Config, original: bytes, reason: str, code: str, source: dict[str, Any]
) -> Record:
    """Refused input on the dead-letter topic, with why and where it came from."""
    value = deadletter_record(original, reason, code, source)
    key = str(source.get("source", "ingest")).encode()
    return Record(config.topics.deadletter, key, value)


class AckedProducer:
    """A kafka-python producer whose :meth:`send_all` returns only once every record is
    acknowledged (``acks=all``), and raises if any was not."""

    def __init__(self, bootstrap: str, **client: Any) -> None:
        from kafka import KafkaProducer

        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=5,
            retries=5,
            max_in_flight_requests_per_connection=1,
            **client,
        )

    def send_all(self, records: Sequence[Record], timeout: float = 30.0) -> None:
        futures = [self.producer.send(r.topic, key=r.key, value=r.value) for r in records]
        self.producer.flush(timeout=timeout)
        for future in futures:
            future.get(timeout=timeout)  # raises the send's error, if any

    def send_until_acked(
        self,
        records: Sequence[Record],
        stopping: Callable[[], bool],
        on_error: Callable[[Exception], None],
        backoff: float = 0.5,
    ) -> bool:
        """Retry :meth:`send_all` until it succeeds (True) or ``stopping()`` (False)."""
        delay = backoff
        while True:
            try:
                self.send_all(records)
                return True
            except Exception as exc:  # kafka errors, timeouts: retried, never dropped
                on_error(exc)
                if stopping():
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def close(self, timeout: float = 10.0) -> None:
        self.producer.flush(timeout=timeout)
        self.producer.close(timeout=timeout)
