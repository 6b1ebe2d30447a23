"""Where simulated events go: Kafka (keyed by queue, topic by family) or a JSON-lines file."""

from __future__ import annotations

import sys
from typing import IO, Any, Protocol

import msgspec

from processors.events import TICKETING_TYPES, Event

__all__ = ["EventSink", "JsonlSink", "KafkaSink", "topic_for"]

_encoder = msgspec.json.Encoder()


def topic_for(event: Event, telephony: str, ticketing: str) -> str:
    """Calls and agent states go to the telephony topic; tickets and surveys to ticketing."""
    return ticketing if isinstance(event, TICKETING_TYPES) else telephony


class EventSink(Protocol):
    def send(self, event: Event) -> None: ...
    def close(self) -> None: ...


class KafkaSink:
    """kafka-python producer; the key is the queue so all of a queue's events share a partition."""

    def __init__(self, bootstrap: str, telephony: str, ticketing: str, **client: Any) -> None:
        from kafka import KafkaProducer

        self.producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, **client)
        self.telephony, self.ticketing = telephony, ticketing

    def send(self, event: Event) -> None:
        topic = topic_for(event, self.telephony, self.ticketing)
        self.producer.send(topic, key=event.queue.encode(), value=_encoder.encode(event))

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()


class JsonlSink:
    """One canonical event per line: what ``ccpulse replay`` reads."""

    def __init__(self, path: str) -> None:
        self._stream: IO[bytes] = sys.stdout.buffer if path == "-" else open(path, "wb")  # noqa: SIM115

    def send(self, event: Event) -> None:
        self._stream.write(_encoder.encode(event) + b"\n")

    def close(self) -> None:
        self._stream.flush()
        if self._stream is not sys.stdout.buffer:
            self._stream.close()
