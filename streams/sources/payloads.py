"""What the webhook mappings share: the "cannot map" result, time parsing, and the JSON-lines
reader that lets ``ccpulse replay`` run a file of stored webhook payloads through a mapping.

A mapping returns a list of events (empty when the payload carries no KPI meaning, e.g. a
Zendesk subject change) or an :class:`Unmappable` with the reason, which the receiver answers
with 202 and sends to the dead-letter topic: nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processors.events import Event
from streams.sources.problems import ParseProblem

__all__ = [
    "MappingResult",
    "Unmappable",
    "digest",
    "parse_time",
    "read_payload_lines",
    "text",
]


@dataclass(frozen=True)
class Unmappable:
    reason: str


MappingResult = list[Event] | Unmappable


def parse_time(value: Any) -> datetime | None:
    """Epoch seconds or milliseconds (number or digits), or ISO 8601 with an offset."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        if number > 1e11:  # milliseconds
            number /= 1000.0
        try:
            return datetime.fromtimestamp(number, UTC)
        except (ValueError, OverflowError, OSError):  # NaN, or beyond what a datetime holds
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def text(value: Any) -> str | None:
    """A non-empty string form of an id or name, or None."""
    if value is None:
        return None
    result = str(value).strip()
    return result or None


def digest(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:20]


def read_payload_lines(
    path: str, mapping: Callable[[Any], MappingResult], form: bool = False
) -> Iterator[Event | ParseProblem]:
    """One stored payload per line: a JSON object, or (``form=True``) also a form-encoded body
    as Twilio posts it. Each goes through ``mapping``; what cannot be mapped is a problem."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            raw = line.strip()
            if not raw:
                continue
            try:
                if form and not raw.startswith("{"):
                    payload: Any = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
                else:
                    payload = json.loads(raw)
            except ValueError as exc:
                yield ParseProblem(number, f"not JSON: {exc}", raw)
                continue
            if not isinstance(payload, dict):
                yield ParseProblem(number, "a payload must be a JSON object", raw)
                continue
            result = mapping(payload)
            if isinstance(result, Unmappable):
                yield ParseProblem(number, result.reason, raw)
            else:
                yield from result
