"""Bytes from Kafka -> canonical events, or a dead-letter reason. Nothing is dropped silently.

msgspec decodes and validates in one pass (processors/events.py is the schema), so this is the
only place where wire bytes are looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from processors.events import Event
from streams.deadletter import classify_decode_error

__all__ = ["DecodeFailure", "decode_event", "encode_event", "event_decoder"]

event_decoder = msgspec.json.Decoder(Event)
"""Raises on anything that is not a valid event; :func:`decode_event` says why."""
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    reason: str
    reason_code: str


def decode_event(raw: bytes | None) -> Event | DecodeFailure:
    """Decode one message value; never raises."""
    if raw is None:
        return DecodeFailure("empty message (no value)", "not_json")
    try:
        return event_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        return DecodeFailure(str(exc), classify_decode_error(exc))


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)
