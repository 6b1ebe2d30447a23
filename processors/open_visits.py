"""Which of a queue's remembered visits may still be open: the calls that can be waiting, the
calls that can be in a self-service flow.

A queue remembers every visit for the lateness horizon after it ended (processors/calls.py), so
a busy queue holds thousands, and ``calls waiting`` and ``calls in IVR`` looked at every one of
them for every snapshot: together half of a busy queue's snapshot (``make bench``, "Freshness
at 20,000 events/s"). Snapshots of a live queue are taken at seconds that only move forward,
and a visit that ended before one of them has ended before every later one. So the keys of the
visits not ended yet are kept, beside the state (in its runtime, processors/queue_runtime.py),
and each look drops the ones that ended before it.

What keeps the answer exact:

- The keys kept are a superset of every visit whose end is unknown or at or after ``valid_from``
  (the ``before`` of the last look). Only a look with ``before`` at or after it uses them; an
  earlier instant (a past snapshot, a replay) looks at every visit, as before.
- Every event of a visit marks its key (:meth:`OpenVisits.touched`, from the handlers in
  processors/event_handlers.py): a new visit, a late entry, an end that moved, all come as
  events. A key kept for a visit that is gone (forgotten after the horizon) is skipped.
- The answer never depends on the order of the keys: a count and a minimum.

Keys marked between two looks are kept until the next look drops the ended ones. A worker that
is looked at rarely (no alert timer, no scrape) could pile up a key per call it is sent: past
twice the visits of the last look, the keys are let go and the next look starts again from
every visit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

__all__ = ["OpenVisits"]


class _Visit(Protocol):
    @property
    def exit_at(self) -> float | None: ...


V = TypeVar("V", bound=_Visit)


class OpenVisits:
    """The keys of one visits dict (a state's ``calls`` or ``ivr``) that may still be open."""

    __slots__ = ("_keys", "_most", "valid_from")

    def __init__(self) -> None:
        self._keys: set[str] | None = None
        """None until the first look (built from every visit then), or after too many marks."""
        self._most = 0
        """How many keys are kept at most before they are let go (module docstring)."""
        self.valid_from = 0.0
        """The kept keys hold every visit not ended before this instant."""

    def touched(self, key: str) -> None:
        """An event of the visit ``key`` was applied."""
        kept = self._keys
        if kept is not None:
            kept.add(key)
            if len(kept) > self._most:
                self._keys = None

    def visits(self, visits: Mapping[str, V], before: float) -> Iterable[V]:
        """Visits of ``visits`` that include every one not ended before ``before`` (those that
        ended before it are dropped from what is kept when ``before`` is the latest look)."""
        kept = self._keys
        if kept is None:
            kept = self._keys = {
                key
                for key, visit in visits.items()
                if (exit_at := visit.exit_at) is None or exit_at >= before
            }
            self.valid_from = before
            self._most = 2 * len(visits) + 64
            return [visits[key] for key in kept]
        if before < self.valid_from:
            return visits.values()  # an earlier instant: every visit
        found: list[V] = []
        ended: list[str] = []
        for key in kept:
            visit = visits.get(key)
            if visit is None:
                ended.append(key)  # forgotten after the lateness horizon
                continue
            exit_at = visit.exit_at
            if exit_at is not None and exit_at < before:
                ended.append(key)
            else:
                found.append(visit)
        kept.difference_update(ended)
        self.valid_from = before
        self._most = 2 * len(visits) + 64
        return found
