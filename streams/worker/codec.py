"""Bytes from Kafka -> canonical events, or a dead-letter reason. Nothing is dropped silently.

msgspec decodes and validates in one pass (processors/events.py is the schema), so this is the
only place where wire bytes are looked at. :func:`decode_event` never raises, whatever the
bytes: a value nested deeper than msgspec's recursion limit raises ``RecursionError``, not a
``DecodeError``, and it is refused like any other (``tests/test_decode_fuzz.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from processors.events import Event
from streams.worker.deadletter import classify_decode_error

__all__ = ["MAX_EVENT_BYTES", "DecodeFailure", "decode_event", "encode_event", "event_decoder"]

MAX_EVENT_BYTES = 65_536
"""Default of ``worker.max_event_bytes``: an event is a few hundred bytes."""

event_decoder = msgspec.json.Decoder(Event)
"""Raises on anything that is not a valid event; :func:`decode_event` says why."""
_encoder = msgspec.json.Encoder()
_REASON_CHARS = 1000
"""Longest reason kept (a reason quotes the path of the bad field, which can be long)."""


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    reason: str
    reason_code: str


def decode_event(raw: object, max_bytes: int | None = None) -> Event | DecodeFailure:
    """Decode one message value; never raises. ``max_bytes``: refuse a longer value
    (``too_large``; the worker's ``worker.max_event_bytes``); None: no limit (a replay, the
    changelog's deltas, which hold only what a worker accepted)."""
    if raw is None:
        return DecodeFailure("empty message (no value)", "not_json")
    if not isinstance(raw, bytes | bytearray | memoryview):
        return DecodeFailure(f"message value is {type(raw).__name__}, not bytes", "not_json")
    if max_bytes is not None and len(raw) > max_bytes:
        return DecodeFailure(
            f"{len(raw)} bytes, over worker.max_event_bytes ({max_bytes})", "too_large"
        )
    try:
        return event_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        return DecodeFailure(str(exc)[:_REASON_CHARS], classify_decode_error(exc))
    except RecursionError:
        return DecodeFailure("JSON nested too deeply", "not_json")
    except Exception as exc:  # nothing a source sends may stop the worker
        return DecodeFailure(f"{type(exc).__name__}: {exc}"[:_REASON_CHARS], "invalid")


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)
