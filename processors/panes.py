"""Sparse event-time panes at three resolutions, for exact sums over any whole-second span.

The KPI clock has a resolution of one second: an event at 10:00:00.700 belongs to second
10:00:00, and a window W = (at - L, at] holds the seconds s with at - L < s <= at. Every
contribution is added to three panes: its second, its minute and its quarter hour. A sum over
[first, last] walks the span coarse-first, so a one-hour window reads at most ~120 second panes,
~30 minute panes and 4 quarter panes instead of 3,600 seconds, and a ``today`` window (up to 25
hours) about 100 quarter panes. Quarter hours line up with every UTC offset in use, so local
midnight is always a quarter boundary.

Panes are packed ``array('d')`` vectors, not lists of float objects: the hundreds of thousands
of panes of a large worker were its largest memory item (docs/performance.md). Minute and
quarter panes hold one float64 per counter (processors/counters.py); second panes, which
rarely hold more than one or two non-zero counters, hold only those (:class:`SparsePane`). The
state serialises every pane as the dense list of floats it stands for, so the stored format
is the same as when panes were lists.

Retention is per level: second panes are kept only as long as the longest rolling window needs
them at second precision; minute and quarter panes as long as the longest window (``today``
included). A sum that would need an evicted pane is a caller error (the engine sizes retention
from the configured windows).
"""

from __future__ import annotations

from array import array
from operator import add
from typing import TYPE_CHECKING, TypeAlias

from processors.counters import WIDTH

__all__ = ["LEVELS", "Pane", "PaneStore", "SparsePane", "dense", "new_pane", "sparse"]

LEVELS: tuple[int, ...] = (1, 60, 900)

if TYPE_CHECKING:
    Pane: TypeAlias = array[float]
else:  # ``array`` is not subscriptable at run time; msgspec resolves the alias to the class
    Pane = array

_ZERO_BYTES = bytes(8 * WIDTH)


def new_pane() -> Pane:
    """A zeroed counter vector."""
    return array("d", _ZERO_BYTES)


class SparsePane(array):  # type: ignore[type-arg]
    """A second pane: only its non-zero counters, as ``index, value, index, value...``.

    A second of one queue rarely holds more than one or two kinds of contribution, so the
    dense vector (a float per counter) was mostly zeros; minute and quarter panes stay dense.
    The state encodes it as the dense list (:func:`dense`), so the stored format is unchanged.
    """

    __slots__ = ()


def sparse(pane: Pane) -> SparsePane:
    """The sparse form of a dense vector (zero counters left out)."""
    pairs = SparsePane("d")
    for index, value in enumerate(pane):
        if value:
            pairs.append(float(index))
            pairs.append(value)
    return pairs


def dense(pane: Pane) -> list[float]:
    """The dense vector of a pane, sparse or not (the encoded form of every pane)."""
    if type(pane) is not SparsePane:
        return pane.tolist()
    vector = [0.0] * WIDTH
    for position in range(0, len(pane), 2):
        vector[int(pane[position])] = pane[position + 1]
    return vector


class PaneStore:
    """Three dicts ``start second -> counter vector``, one per level in :data:`LEVELS`; the
    second level holds :class:`SparsePane` vectors."""

    __slots__ = ("_at", "_cached", "levels")

    def __init__(self, levels: list[dict[int, Pane]] | None = None) -> None:
        self.levels: list[dict[int, Pane]] = levels if levels is not None else [{}, {}, {}]
        # Events arrive mostly in time order, so consecutive adds hit the same second: keep the
        # three vectors of the last second touched instead of three dict look-ups per add.
        self._at: int | None = None
        self._cached: tuple[Pane, Pane, Pane] = (SparsePane("d"), new_pane(), new_pane())

    def _vectors(self, second: int) -> tuple[Pane, Pane, Pane]:
        if second == self._at:
            return self._cached
        seconds, minutes, quarters = self.levels
        one = seconds.get(second)
        if one is None:
            one = seconds[second] = SparsePane("d")
        elif type(one) is not SparsePane:
            one = seconds[second] = sparse(one)  # a dense pane put in by hand
        found: list[Pane] = [one]
        for size, panes in ((60, minutes), (900, quarters)):
            start = second - second % size
            pane = panes.get(start)
            if pane is None:
                pane = panes[start] = new_pane()
            elif len(pane) < WIDTH:
                # A pane restored from state written before a counter was appended to C.
                pane.extend([0.0] * (WIDTH - len(pane)))
            found.append(pane)
        self._cached = (found[0], found[1], found[2])
        self._at = second
        return self._cached

    def add(self, second: int, index: int, amount: float) -> None:
        """Add ``amount`` to counter ``index`` at event-time ``second`` (negative to retract)."""
        one, sixty, quarter = self._vectors(second)
        for position in range(0, len(one), 2):
            if one[position] == index:
                one[position + 1] += amount
                break
        else:
            # A new counter in this second: a new array of exactly the right size. Appending
            # would leave a spare pair allocated in most of the hundreds of thousands of
            # second panes a large worker holds (16 bytes each).
            grown = SparsePane("d", [*one.tolist(), float(index), float(amount)])
            self.levels[0][second] = grown
            self._cached = (grown, sixty, quarter)
        sixty[index] += amount
        quarter[index] += amount

    def sum(self, first: int, last: int) -> list[float]:
        """Element-wise sum of all contributions at seconds ``first..last`` inclusive."""
        total = [0.0] * WIDTH
        second = first
        seconds, minutes, quarters = self.levels
        while second <= last:
            if second % 900 == 0 and second + 899 <= last:
                pane, step = quarters.get(second), 900
            elif second % 60 == 0 and second + 59 <= last:
                pane, step = minutes.get(second), 60
            else:
                one = seconds.get(second)
                if one is not None:
                    if type(one) is SparsePane:
                        for position in range(0, len(one), 2):
                            value = one[position + 1]
                            if value:
                                total[int(one[position])] += value
                    else:
                        for i, value in enumerate(one):
                            if value:
                                total[i] += value
                second += 1
                continue
            if pane is not None:
                # Dense minute and quarter panes: one element-wise add in C per pane.
                total = list(map(add, total, pane))
            second += step
        return total

    def evict(self, keep_from: tuple[int, int, int]) -> None:
        """Drop panes that start before ``keep_from[level]`` (one cutoff per level).

        Panes are created in (nearly) event-time order, so the stale ones are at the front of
        each dict: the scan stops at the first pane still needed instead of walking every pane
        kept (an hour of seconds, a day of minutes) once a minute. A pane created late (an
        out-of-order event within the allowed lateness) behind a newer one is dropped by a later
        eviction; until then it is only memory, since no window reaches past the retention.
        """
        self._at = None
        for (size, panes), cutoff in zip(
            zip(LEVELS, self.levels, strict=True), keep_from, strict=True
        ):
            stale = []
            for start in panes:
                if start + size > cutoff:
                    break
                stale.append(start)
            for start in stale:
                del panes[start]

    def __len__(self) -> int:
        return sum(len(panes) for panes in self.levels)
