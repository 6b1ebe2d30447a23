"""What every event of the contract (processors/events.py) is made of: the schema version,
the field types and their limits, the fields every event carries (:class:`EventBase`), and the
check that a name (queue, agent, reason) can be shown and used as a label."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

__all__ = [
    "DEFAULT_CHANNEL",
    "MAX_SECONDS",
    "MAX_TEXT",
    "NAME_REFUSED",
    "SCHEMA_VERSION",
    "AgentState",
    "AwareTime",
    "BlockReason",
    "CallbackOutcome",
    "Channel",
    "EventBase",
    "ExitReason",
    "IvrOutcome",
    "NonEmpty",
    "OpenStatus",
    "Priority",
    "ReplyAuthor",
    "Seconds",
    "Text",
    "check_name",
    "name_problem",
]

SCHEMA_VERSION = 1

MAX_TEXT = 256
"""Longest identifier or free-text field, in characters (a longer one is refused: ``invalid``)."""
MAX_SECONDS = 10_000_000.0
"""Longest duration a source may report (about 115 days): anything above it, or not finite, is
refused (``invalid``), so that no sum or average of durations can become infinite or NaN."""

NonEmpty = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]
Text = Annotated[str, Meta(max_length=MAX_TEXT)]
Seconds = Annotated[float, Meta(ge=0, le=MAX_SECONDS)]
AwareTime = Annotated[datetime, Meta(tz=True)]
Channel = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,31}(?!\n)$")]
"""A contact's channel (``voice``, ``chat``, ``email``, ``messaging``...): lower-case letters,
digits and ``_``, at most 32, starting with a letter. It becomes a Prometheus label value and a
JSON key, so anything else is refused (``invalid``) rather than cleaned up. (``(?!\n)``: a
Python ``$`` also matches before a final newline.)"""
DEFAULT_CHANNEL = "voice"
"""The channel of a contact event that names none (every event written before channels)."""

AgentState = Literal["logged_out", "available", "on_call", "wrap_up", "not_ready"]
BlockReason = Literal["queue_full", "no_agents", "closed", "other"]
ExitReason = Literal["timeout", "key", "empty", "other"]
Priority = Literal["low", "normal", "high", "urgent"]
OpenStatus = Literal["new", "open", "pending", "hold"]
ReplyAuthor = Literal["agent", "customer", "automation"]
CallbackOutcome = Literal["connected", "no_answer", "busy", "failed"]
IvrOutcome = Literal["self_served", "to_queue", "abandoned", "error"]


class EventBase(
    Struct, frozen=True, tag_field="type", forbid_unknown_fields=False, kw_only=True, gc=False
):
    """Fields every event carries. Unknown extra fields are tolerated (forward compatibility).

    Not tracked by the garbage collector (``gc=False``): an event holds only strings, numbers
    and datetimes, so it can never be part of a reference cycle, and a worker decodes tens of
    thousands of them per second.
    """

    v: Annotated[int, Meta(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    id: NonEmpty
    time: AwareTime
    queue: NonEmpty


NAME_REFUSED = "control or bidi characters"
"""Part of the reason of every name refused by :func:`name_problem` (streams/worker/deadletter.py
classifies on it)."""


def name_problem(field: str, value: str) -> str | None:
    """Why ``value`` cannot be a queue name, an agent id or a reason (None: it can).

    Names are shown on wallboards and in alerts and used as Prometheus labels: a control
    character or a bidirectional override (which can make a name display as another one) is
    refused, and so is any character Python does not deem printable (format characters such as
    U+200B, separators other than the space). ``str.isprintable`` is one C pass over the string.
    """
    if value.isprintable():
        return None
    return f"{field} contains {NAME_REFUSED} (not printable): {value[:64]!r}"


def check_name(field: str, value: str) -> None:
    """Raise ValueError (msgspec turns it into a ValidationError) if ``value`` is no name.
    Callers test ``value.isprintable()`` first: the common case costs no Python call (a
    ``__post_init__`` runs for every decoded event that names an agent)."""
    problem = name_problem(field, value)
    if problem is not None:
        raise ValueError(problem)
