"""Produce a batch of records with kafka-python and know that Kafka acknowledged all of it.

The adapters advance their own position (a file offset) or answer a sender only after
:meth:`AckedProducer.send_until_acked` returned, so a crash in between re-sends (at-least-once)
rather than loses; deterministic event ids make the re-sent events duplicates the worker ignores.
A record Kafka can never take (too large, invalid) goes to the dead-letter topic instead of
being retried forever, which would stop the adapter for good.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from kafka import errors as kafka_errors

from processors.events import Event
from streams.config import Config
from streams.offline.simulator.output import topic_for
from streams.worker.deadletter import deadletter_record

__all__ = [
    "DEADLETTER_KEEP_BYTES",
    "REFUSED_RECORD_ERRORS",
    "AckedProducer",
    "Record",
    "deadletter",
    "event_record",
    "refusal_code",
]

_encoder = msgspec.json.Encoder()

DEADLETTER_KEEP_BYTES = 65_536
"""How much of a refused original a dead-letter record keeps (plus its size and SHA-256)."""


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes
    origin: dict[str, Any] | None = None
    """Where the input came from (source, file, line): the dead-letter source if Kafka refuses
    the record itself."""


def event_record(event: Event, config: Config, origin: dict[str, Any] | None = None) -> Record:
    """An event on its family's topic, keyed by its queue (one queue = one partition)."""
    topic = topic_for(event, config.topics.telephony, config.topics.ticketing)
    where = {**(origin or {}), "id": event.id[:200]}  # names it, should Kafka refuse it
    return Record(topic, event.queue.encode(), _encoder.encode(event), where)


def bounded_deadletter_record(
    original: bytes,
    reason: str,
    code: str,
    source: dict[str, Any],
    whole: tuple[int, str] | None = None,
) -> bytes:
    """A dead-letter record that fits the producer's limit whatever ``original`` is: its first
    :data:`DEADLETTER_KEEP_BYTES` bytes, its size and SHA-256 (the fields
    streams/worker/deadletter.py
    writes once it bounds records itself; then this becomes a plain call of it). ``whole``:
    (size, SHA-256) of an original of which ``original`` is only the beginning."""
    kept = original[:DEADLETTER_KEEP_BYTES]
    size, sha256 = whole or (len(original), hashlib.sha256(original).hexdigest())
    record = msgspec.json.decode(deadletter_record(kept, reason[:1000], code, source))
    record["original_size"] = size
    record["original_sha256"] = sha256
    record["original_truncated"] = len(kept) < size
    return _encoder.encode(record)


def deadletter(
    topic: str,
    original: bytes,
    reason: str,
    code: str,
    source: dict[str, Any],
    whole: tuple[int, str] | None = None,
) -> Record:
    """Refused input on the dead-letter ``topic``, with why and where it came from."""
    value = bounded_deadletter_record(original, reason, code, source, whole)
    key = str(source.get("source", "ingest")).encode()
    return Record(topic, key, value, source)


REFUSED_RECORD_ERRORS: tuple[type[Exception], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidRecordError,
    kafka_errors.CorruptRecordError,
)
"""Errors about the record itself: sending it again can never succeed."""


def refusal_code(error: Exception) -> str:
    """The dead-letter reason code of a record Kafka refused."""
    too_large = (kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordListTooLargeError)
    return "too_large" if isinstance(error, too_large) else "refused"


RefusedCallback = Callable[[Record, Exception, "Record | None"], None]


class AckedProducer:
    """A kafka-python producer whose :meth:`send_until_acked` returns only once every record is
    acknowledged (``acks=all``).

    A record Kafka refuses for what it is (:data:`REFUSED_RECORD_ERRORS`: too large, invalid)
    is never retried: it is replaced by a dead-letter record on ``deadletter_topic`` (its first
    64 kB, size, SHA-256 and the error as reason) and ``on_refused`` is called. Any other error
    (broker down, timeout, leader moving) is retried as long as it takes."""

    def __init__(
        self,
        bootstrap: str,
        deadletter_topic: str,
        on_refused: RefusedCallback | None = None,
        **client: Any,
    ) -> None:
        from kafka import KafkaProducer

        self.deadletter_topic = deadletter_topic
        self.on_refused = on_refused or (lambda record, error, replacement: None)
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=5,
            retries=5,
            max_in_flight_requests_per_connection=1,
            **client,
        )

    def _attempt(self, records: Sequence[Record], timeout: float) -> list[tuple[int, Exception]]:
        """Send ``records``; the index and error of each one not acknowledged."""
        failed: list[tuple[int, Exception]] = []
        futures = []
        for index, r in enumerate(records):
            try:
                futures.append((index, self.producer.send(r.topic, key=r.key, value=r.value)))
            except Exception as exc:  # too large is raised here, before anything is sent
                failed.append((index, exc))
        self.producer.flush(timeout=timeout)
        for index, future in futures:
            try:
                future.get(timeout=timeout)
            except Exception as exc:
                failed.append((index, exc))
        return sorted(failed, key=lambda item: item[0])

    def _replacement(self, record: Record, error: Exception) -> Record | None:
        """The dead-letter record standing for a refused one (None: it was one already, and
        its bounded form was refused too; nothing smaller can be sent)."""
        origin = dict(record.origin or {})
        if record.topic == self.deadletter_topic and origin.get("refused"):
            return None
        code = refusal_code(error)
        source = {**origin, "refused": True, "topic": record.topic}
        reason = f"Kafka refused the record ({len(record.value)} bytes): {error}"
        return deadletter(self.deadletter_topic, record.value, reason, code, source)

    def send_until_acked(
        self,
        records: Sequence[Record],
        stopping: Callable[[], bool],
        on_error: Callable[[Exception], None],
        backoff: float = 0.5,
        timeout: float = 30.0,
    ) -> bool:
        """Send until every record is acknowledged or dead-lettered (True), or ``stopping()``
        (False). Only what was not acknowledged is sent again, in its order."""
        pending = list(records)
        delay = backoff
        while True:
            failed = self._attempt(pending, timeout)
            if not failed:
                return True
            again: list[Record] = []
            transient: Exception | None = None
            for index, error in failed:
                record = pending[index]
                if isinstance(error, REFUSED_RECORD_ERRORS):
                    replacement = self._replacement(record, error)
                    self.on_refused(record, error, replacement)
                    if replacement is not None:
                        again.append(replacement)
                else:
                    transient = transient or error
                    again.append(record)
            pending = again
            if transient is None:
                continue  # only replacements to send: no reason to wait
            on_error(transient)
            if stopping():
                return False
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def close(self, timeout: float = 10.0) -> None:
        self.producer.flush(timeout=timeout)
        self.producer.close(timeout=timeout)
