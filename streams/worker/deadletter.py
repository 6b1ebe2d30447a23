"""Dead-letter records: bad input is kept, with why it was refused and where it came from.

A record on ``ccpulse.deadletter`` is JSON::

    {"reason": "Expected `datetime` with a timezone component - at `$.time`",
     "reason_code": "invalid",            # docs/events.md lists every code
     "source": {"topic": "ccpulse.telephony", "partition": 3, "offset": 1041},
     "received_at": "2026-11-22T10:00:00Z",
     "original_size": 143,                # bytes of the original value
     "original_sha256": "9f86d0...",      # of the whole original
     "original_truncated": false,         # true: only its first bytes are kept
     "original_text": "{\"type\":\"...\"}"}  # or "original_base64" (see below)

The original is stored once: as text when its kept bytes are UTF-8 without control characters
(so that it reads as it was sent), else as base64. At most ``worker.deadletter_original_bytes``
(default 64 kB) of it are kept, so a record is at most about 4/3 of that plus a bounded reason:
whatever a source sends, its dead-letter record fits the producer's limit. An original kept
whole can be repaired and re-produced byte for byte; the size and SHA-256 identify a truncated
one (the source still holds it, e.g. at ``source``'s offset until the topic's retention).
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import msgspec

__all__ = [
    "DEADLETTER_ORIGINAL_BYTES",
    "LogBudget",
    "classify_decode_error",
    "deadletter_record",
]

DEADLETTER_ORIGINAL_BYTES = 65_536
"""Default of ``worker.deadletter_original_bytes``."""
_REASON_CHARS = 1000


def classify_decode_error(error: msgspec.DecodeError) -> str:
    """A short, stable code for metrics labels (the full message goes in ``reason``)."""
    from processors.event_fields import NAME_REFUSED

    text = str(error)
    if isinstance(error, msgspec.ValidationError):
        if "at `$.type`" in text:
            return "unknown_type"
        if NAME_REFUSED in text:
            return "bad_name"
        return "invalid"
    return "not_json"


def deadletter_record(
    original: bytes,
    reason: str,
    reason_code: str,
    source: dict[str, Any],
    received_at: float | None = None,
    keep_bytes: int = DEADLETTER_ORIGINAL_BYTES,
) -> bytes:
    """Encode one dead-letter record (see the module docstring)."""
    stamp = time.gmtime(received_at if received_at is not None else time.time())
    kept = original[:keep_bytes]
    record: dict[str, Any] = {
        "reason": reason[:_REASON_CHARS],
        "reason_code": reason_code,
        "source": source,
        "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", stamp),
        "original_size": len(original),
        "original_sha256": hashlib.sha256(original).hexdigest(),
        "original_truncated": len(kept) < len(original),
    }
    text = _plain_text(kept)
    if text is not None:
        record["original_text"] = text
    else:
        record["original_base64"] = base64.b64encode(kept).decode("ascii")
    return msgspec.json.encode(record)


def _plain_text(data: bytes) -> str | None:
    """``data`` as text if it is UTF-8 without control characters (tab, newlines aside), which
    JSON would escape six bytes for one; else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    plain = text.replace("\t", "").replace("\n", "").replace("\r", "")
    return text if plain.isprintable() else None


class LogBudget:
    """At most ``lines`` log lines per ``seconds``; counts the ones skipped."""

    __slots__ = ("_left", "_lines", "_seconds", "_started", "_suppressed")

    def __init__(self, lines: int, seconds: float) -> None:
        self._lines, self._seconds = lines, seconds
        self._started = float("-inf")
        self._left = 0
        self._suppressed = 0

    def allow(self, now: float) -> bool:
        if now - self._started >= self._seconds:
            self._started, self._left = now, self._lines
        if self._left > 0:
            self._left -= 1
            return True
        self._suppressed += 1
        return False

    def take_suppressed(self) -> int:
        """How many were skipped since the last line logged (and reset)."""
        count, self._suppressed = self._suppressed, 0
        return count
