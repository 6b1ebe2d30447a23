"""Dead-letter records: bad input is kept, with why it was refused and where it came from.

A record on ``ccpulse.deadletter`` is JSON::

    {"reason": "Expected `datetime` with a timezone component - at `$.time`",
     "reason_code": "invalid",            # not_json | invalid | unknown_type | unmappable | ...
     "source": {"topic": "ccpulse.telephony", "partition": 3, "offset": 1041},
     "received_at": "2026-11-22T10:00:00.123Z",
     "original_base64": "eyJ0eXBlIjoi...",  # the exact bytes, always
     "original_text": "{\"type\":\"...\"}"}  # the same bytes as text, when they are UTF-8

so the original can be repaired and re-produced byte for byte.
"""

from __future__ import annotations

import base64
import contextlib
import time
from typing import Any

import msgspec

__all__ = ["classify_decode_error", "deadletter_record"]


def classify_decode_error(error: msgspec.DecodeError) -> str:
    """A short, stable code for metrics labels (the full message goes in ``reason``)."""
    text = str(error)
    if isinstance(error, msgspec.ValidationError):
        if "at `$.type`" in text:
            return "unknown_type"
        return "invalid"
    return "not_json"


def deadletter_record(
    original: bytes,
    reason: str,
    reason_code: str,
    source: dict[str, Any],
    received_at: float | None = None,
) -> bytes:
    """Encode one dead-letter record (see the module docstring)."""
    stamp = time.gmtime(received_at if received_at is not None else time.time())
    record: dict[str, Any] = {
        "reason": reason,
        "reason_code": reason_code,
        "source": source,
        "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", stamp),
        "original_base64": base64.b64encode(original).decode("ascii"),
    }
    with contextlib.suppress(UnicodeDecodeError):
        record["original_text"] = original.decode("utf-8")
    return msgspec.json.encode(record)
