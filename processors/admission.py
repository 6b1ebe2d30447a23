"""Which decoded events may enter the engine: the checks the contract's types cannot express.

The decoder (processors/events.py) refuses what is malformed; this refuses what is well formed
but must not be counted, before the engine sees it, so that no state is touched:

* ``future_time``: dated more than ``max_future_seconds`` ahead of the wall clock (a worker
  only; ``ccpulse replay`` has no wall clock to compare with). One source with a wrong clock
  would otherwise move its queue's "now" years ahead and make every later event late.
* ``time_out_of_range``: dated before :data:`EARLIEST` or from :data:`LATEST` on: no contact
  centre event, and dates the calendar arithmetic of the ``today`` window cannot handle.
* ``unknown_queue``: a new queue beyond ``max_queues``, or not matching ``queues_allowed``;
  ``bad_name``: a queue name with control or bidi characters.
* ``unknown_channel``: a contact event of a queue's channel beyond ``max_channels`` (the
  channels its state already counts, and those admitted earlier in the batch, come first). A
  source that names a new channel per contact would otherwise give each queue thousands of
  channel stores and Prometheus series.

The checks run a batch at a time, one queue group at a time, with C-level passes over the
group's event times (``min``/``max``); only a group holding a refused event is looked at one
event at a time.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import TypeVar

from processors.channels import counted_channels
from processors.event_fields import name_problem
from processors.events import CONTACT_TYPES
from processors.settings import EngineSettings
from processors.state import QueueState

__all__ = ["EARLIEST", "LATEST", "Admission", "Refusal"]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an event was refused: a stable code (metrics label) and a sentence."""

    reason_code: str
    reason: str


KnownQueues = Mapping[str, QueueState]
"""The queues that already have state (the engine's ``queues``)."""


T = TypeVar("T", bound=tuple[object, ...])

_CONTACT_TYPES = frozenset(CONTACT_TYPES)
"""The events that count in a channel (processors/channels.py); a ticket's ``channel`` is where
it came from, not a contact channel."""
_event_of = itemgetter(0)
_time_of = attrgetter("time")


class Admission:
    """The refusals of one engine's settings (see the module docstring)."""

    __slots__ = ("_allowed", "_max_channels", "_max_future", "_max_queues")

    def __init__(self, settings: EngineSettings) -> None:
        self._max_future = settings.max_future_seconds
        self._max_queues = settings.max_queues
        self._max_channels = settings.max_channels
        self._allowed = tuple(settings.queues_allowed or ())

    def queue_refusal(self, queue: str, owned: int) -> Refusal | None:
        """Why a queue without state yet cannot get one, with ``owned`` queues held already."""
        problem = name_problem("queue", queue)
        if problem is not None:
            return Refusal("bad_name", problem)
        if self._allowed and not any(fnmatch.fnmatchcase(queue, p) for p in self._allowed):
            return Refusal(
                "unknown_queue", f"queue {queue[:64]!r} matches no engine.queues_allowed"
            )
        if owned >= self._max_queues:
            return Refusal(
                "unknown_queue",
                f"queue {queue[:64]!r} would be queue {owned + 1}, over engine.max_queues "
                f"({self._max_queues})",
            )
        return None

    def screen(
        self, groups: dict[str, list[T]], known: KnownQueues, now: float | None
    ) -> list[tuple[T, Refusal]]:
        """Remove the refused items (``(event, ...)`` tuples) from ``groups`` (queue -> items, in
        place) and return them with their refusal. ``now``: the wall clock (None: a replay, no
        future bound)."""
        refused: list[tuple[T, Refusal]] = []
        future = None if now is None else datetime.fromtimestamp(now + self._max_future, UTC)
        admitted_new = 0
        for queue in list(groups):
            items = groups[queue]
            if queue not in known:
                why = self.queue_refusal(queue, len(known) + admitted_new)
                if why is not None:
                    refused.extend((item, why) for item in items)
                    del groups[queue]
                    continue
            if not self._channels_admitted(queue, items, known, refused):
                del groups[queue]
                continue
            times = list(map(_time_of, map(_event_of, items)))
            newest = max(times)
            if min(times) >= EARLIEST and newest < LATEST and (future is None or newest <= future):
                if queue not in known:
                    admitted_new += 1
                continue
            keep: list[T] = []
            for item, t in zip(items, times, strict=True):
                why = self._time_refusal(t, future)
                if why is None:
                    keep.append(item)
                else:
                    refused.append((item, why))
            if keep:
                groups[queue] = keep
                if queue not in known:
                    admitted_new += 1
            else:
                del groups[queue]
        return refused

    def _channels_admitted(
        self, queue: str, items: list[T], known: KnownQueues, refused: list[tuple[T, Refusal]]
    ) -> bool:
        """Take out of ``items`` (in place, into ``refused``) the contact events of channels
        beyond ``max_channels`` for ``queue``; whether any item is left."""
        contact = _CONTACT_TYPES
        named = {event.channel for event in map(_event_of, items) if type(event) in contact}
        if not named:
            return True  # no contact event
        counted = _channels_of(known.get(queue))
        if named <= counted or len(counted | named) <= self._max_channels:
            return True
        keep: list[T] = []
        for item in items:
            event = _event_of(item)
            if type(event) not in contact or event.channel in counted:
                keep.append(item)
                continue
            channel = event.channel
            if len(counted) < self._max_channels:
                counted.add(channel)
                keep.append(item)
            else:
                refused.append(
                    (
                        item,
                        Refusal(
                            "unknown_channel",
                            f"channel {channel!r} would be channel {len(counted) + 1} of queue "
                            f"{queue[:64]!r}, over engine.max_channels ({self._max_channels})",
                        ),
                    )
                )
        items[:] = keep
        return bool(keep)

    def _time_refusal(self, t: datetime, future: datetime | None) -> Refusal | None:
        if future is not None and t > future:
            return Refusal(
                "future_time",
                f"event time {t.isoformat()} is more than engine.max_future_seconds "
                f"({self._max_future:g} s) ahead of the wall clock",
            )
        if t < EARLIEST or t >= LATEST:
            return Refusal(
                "time_out_of_range",
                f"event time {t.isoformat()} is outside {EARLIEST.year}..{LATEST.year - 1}",
            )
        return None


def _channels_of(state: QueueState | None) -> set[str]:
    """The channels ``state`` counts contacts in (processors/channels.py), none for a new queue."""
    return set() if state is None else counted_channels(state)
