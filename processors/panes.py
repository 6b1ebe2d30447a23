"""Sparse event-time panes at three resolutions, for exact sums over any whole-second span.

The KPI clock has a resolution of one second: an event at 10:00:00.700 belongs to second
10:00:00, and a window W = (at - L, at] holds the seconds s with at - L < s <= at. Every
contribution is added at three resolutions: its second, its minute and its quarter hour. A sum
over [first, last] walks the span coarse-first, so a one-hour window reads 4 quarter panes, at
most ~30 minute panes and the second-level detail of at most two partial minutes (its two
ragged edges), and a ``today`` window (up to 25 hours) about 100 quarter panes. Quarter hours
line up with every UTC offset in use, so local midnight is always a quarter boundary.

Minute and quarter panes are dense packed ``array('d')`` vectors, one float64 per counter
(processors/counters.py). Second-level detail is kept per minute as one *chunk*: an append-only
``array('d')`` of ``code, amount`` pairs, ``code = (second - minute start) * STRIDE + counter``.
A second of one queue rarely holds more than one or two contributions, so a vector (or even a
sparse array) per second was mostly overhead: a dict entry and an array object per second were
the largest memory item of a large worker, and creating them the largest cost of adding
(docs/performance.md). Appending never searches: a counter added twice in a minute is two pairs,
and sums add them both. ``STRIDE`` is fixed (not the number of counters), so chunks stay
readable when a counter is appended to :class:`~processors.counters.CounterIndex`. A store
without minute panes (a channel's, processors/channels.py) keeps one chunk per quarter instead.

Retention is per level: chunks are kept only as long as the longest rolling window needs them at
second precision; minute and quarter panes as long as the longest window (``today`` included).
A sum that would need an evicted pane is a caller error (the engine sizes retention from the
configured windows).
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from operator import add
from typing import TypeAlias

from processors.counters import WIDTH

__all__ = [
    "LEVELS",
    "STRIDE",
    "Pane",
    "PaneStore",
    "chunks_from_seconds",
    "new_pane",
    "quarter_chunks",
]

LEVELS: tuple[int, ...] = (60, 60, 900)
"""Seconds covered by one entry of each level: a chunk of second-level detail, a minute pane,
a quarter pane."""
STRIDE = 64
"""Codes per second in a chunk (>= the number of counters)."""
_SHIFT = 6  # STRIDE == 1 << _SHIFT
assert WIDTH <= STRIDE == 1 << _SHIFT

Pane: TypeAlias = "array[float]"
# ``array`` is not subscriptable at run time: the name msgspec resolves in QueueState's
# annotations (processors/state.py) is the class. Not an ``if TYPE_CHECKING`` branch: mypyc
# compiles the ``else`` of one as unreachable (mk/native_build.py).
globals()["Pane"] = array

_ZERO_BYTES = bytes(8 * WIDTH)
_NOWHERE = -(2**62)
"""The minute start cached before any add: no second is within a minute of it."""
_NEVER = 2**62


def new_pane() -> Pane:
    """A zeroed counter vector."""
    return array("d", _ZERO_BYTES)


def chunks_from_seconds(seconds: Mapping[int, list[float] | Pane]) -> dict[int, Pane]:
    """Second-level detail stored one dense vector per second (state written before chunks) as
    chunks, adding in the same order (second by second, counter by counter)."""
    chunks: dict[int, Pane] = {}
    for second in sorted(seconds):
        start = second - second % 60
        chunk = chunks.get(start)
        if chunk is None:
            chunk = chunks[start] = array("d")
        base = (second - start) << _SHIFT
        for index, value in enumerate(seconds[second]):
            if value:
                chunk.append(float(base + index))
                chunk.append(value)
    return chunks


def quarter_chunks(chunks: dict[int, Pane], mask: list[bool] | None = None) -> dict[int, Pane]:
    """Chunks of a minute each as chunks of a quarter each (a store without minute
    panes): each minute's pairs, in the chunks' order, appended to its quarter's
    chunk with their codes moved by the minute's offset. ``mask``: only the counters it marks."""
    out: dict[int, Pane] = {}
    for start, chunk in chunks.items():
        quarter = start - start % 900
        kept = out.get(quarter)
        if kept is None:
            kept = out[quarter] = array("d")
        shift = float((start - quarter) * STRIDE)
        for position in range(0, len(chunk), 2):
            code = chunk[position]
            if mask is None or mask[int(code) & (STRIDE - 1)]:
                kept.append(code + shift)
                kept.append(chunk[position + 1])
    return out


class PaneStore:
    """Three dicts ``start second -> pane``, one per level in :data:`LEVELS`: chunks of
    second-level detail, minute vectors and quarter vectors."""

    __slots__ = (
        "_at",
        "_chunk",
        "_chunk_high",
        "_closed",
        "_closed_from",
        "_closed_to",
        "_code",
        "_dense",
        "_minute",
        "_minute_start",
        "_quarter",
        "_span",
        "_tail_from",
        "_tail_sum",
        "_tail_to",
        "levels",
        "lowest_added",
    )

    def __init__(self, levels: list[dict[int, Pane]] | None = None, minutes: bool = True) -> None:
        self.levels: list[dict[int, Pane]] = levels if levels is not None else [{}, {}, {}]
        self._dense = minutes
        """Whether minute panes are kept. Without them (a channel's contacts,
        processors/channels.py: a dense vector per minute per channel was the largest part of
        a split queue's memory), a whole minute is summed from its chunk; sums over quarters
        still read quarter panes, so a ``today`` window and a closed interval stay cheap."""
        self._span = 60 if minutes else 900
        """Seconds of one chunk: a minute, or without minute panes a quarter (one array per
        quarter, not fifteen: an array and its dict entry cost more than a minute of a
        channel's pairs, ``make bench``); codes then run up to ``899 * STRIDE + 63``."""
        # Events arrive mostly in time order, so consecutive adds hit the same second (or at
        # least the same minute): keep what the last add touched instead of three dict
        # look-ups per add.
        self._at: int | None = None
        self.lowest_added = _NEVER
        """The earliest second added to since :meth:`take_lowest_added` (closed intervals to
        publish again: processors/intervals.py)."""
        self._minute_start = _NOWHERE
        self._code = 0.0
        self._chunk: Pane = array("d")
        # Without minute panes, a minute's share goes to one scratch vector, never read.
        self._minute: Pane = self._chunk if minutes else new_pane()
        self._quarter: Pane = self._chunk
        # sum_since: the sum over its closed quarters [from, to), until an add lands there.
        self._closed: tuple[int, int, list[float]] | None = None
        self._closed_from = self._closed_to = _NEVER
        # sum: the sum over the last, partial minute [from, to], until an add lands there.
        self._tail_sum: tuple[int, list[float]] | None = None
        self._tail_from = self._tail_to = _NEVER
        # (minute, pairs read, greatest code) of the chunk last summed as a tail.
        self._chunk_high: tuple[int, int, float] = (_NOWHERE, 0, -1.0)

    def _select(self, second: int) -> None:
        start = second - second % self._span
        if start != self._minute_start:
            chunks, minutes, quarters = self.levels
            chunk = chunks.get(start)
            if chunk is None:
                chunk = chunks[start] = array("d")
            found = minutes.get(start) if self._dense else self._minute
            if found is None:
                minute = minutes[start] = new_pane()
            else:
                minute = found
            if len(minute) < WIDTH:
                # A pane restored from state written before a counter was appended to CounterIndex.
                minute.extend([0.0] * (WIDTH - len(minute)))
            quarter_start = second - second % 900
            quarter = quarters.get(quarter_start)
            if quarter is None:
                quarter = quarters[quarter_start] = new_pane()
            elif len(quarter) < WIDTH:
                quarter.extend([0.0] * (WIDTH - len(quarter)))
            self._chunk, self._minute, self._quarter = chunk, minute, quarter
            self._minute_start = start
        self._code = float((second - start) << _SHIFT)
        self._at = second

    def add(self, second: int, index: int, amount: float) -> None:
        """Add ``amount`` to counter ``index`` at event-time ``second`` (negative to retract)."""
        if second != self._at:
            if second < self.lowest_added:
                self.lowest_added = second
            if self._closed_from <= second < self._closed_to:
                self._closed, self._closed_from, self._closed_to = None, _NEVER, _NEVER
            if self._tail_from <= second <= self._tail_to:
                self._tail_sum, self._tail_from, self._tail_to = None, _NEVER, _NEVER
            offset = second - self._minute_start
            if 0 <= offset < self._span:  # another second of the same chunk
                self._code = float(offset << _SHIFT)
                self._at = second
            else:
                self._select(second)
        chunk = self._chunk
        chunk.append(self._code + index)
        chunk.append(amount)
        self._minute[index] += amount
        self._quarter[index] += amount

    def take_lowest_added(self) -> int | None:
        """The earliest second added to since the last call (None: nothing added)."""
        lowest, self.lowest_added = self.lowest_added, _NEVER
        self._at = None  # so the next add, even to the cached second, is recorded
        return None if lowest == _NEVER else lowest

    def sum_coarse(self, first: int, last: int) -> list[float]:
        """:meth:`sum` walked coarse-first to the end: a whole quarter is its quarter pane, so a
        closed 15-minute interval stays readable after its second-level detail is evicted
        (processors/intervals.py)."""
        return self._sum_onto([0.0] * WIDTH, first, last)

    def sum(self, first: int, last: int) -> list[float]:
        """Element-wise sum of all contributions at seconds ``first..last`` inclusive.

        Walked up to the minute of ``last``; that last, partial minute (the *tail*) is summed
        apart and added at the end. Every window of a snapshot ends at the same second, and the
        tail of a busy queue is its longest chunk (all the contributions of the current
        minute): it is summed once per second and shared (kept until an add lands in it).
        """
        minute = last - last % 60
        if first >= minute or not self._dense:
            return self._sum_onto([0.0] * WIDTH, first, last)
        head = self._sum_onto([0.0] * WIDTH, first, minute - 1)
        return list(map(add, head, self._tail(minute, last)))

    def sum_since(self, first: int, last: int) -> list[float]:
        """:meth:`sum` for a span whose start stays put while its end moves on (``today``).

        A ``today`` sum adds up to a hundred quarter panes; all but the current one are closed
        and change only when a late event lands in them. Their sum is kept until then (or until
        the start or the current quarter moves), and only the current quarter is walked each
        time. Same panes, same order of additions: the same floats as :meth:`sum`. (An add
        outside the closed quarters keeps them: a worker catching up adds to yesterday.)
        """
        quarter = last - last % 900
        if quarter <= first:
            return self.sum(first, last)
        closed = self._closed
        if closed is None or closed[0] != first or closed[1] != quarter:
            closed = self._closed = (
                first,
                quarter,
                self._sum_onto([0.0] * WIDTH, first, quarter - 1),
            )
            self._closed_from, self._closed_to = first, quarter
            self._at = None  # so the next add, whatever its second, is checked against them
        if not self._dense:
            return self._sum_onto(list(closed[2]), quarter, last)
        minute = last - last % 60
        head = self._sum_onto(list(closed[2]), quarter, minute - 1)
        return list(map(add, head, self._tail(minute, last)))

    def _tail(self, minute: int, last: int) -> list[float]:
        """The sum over ``minute..last`` (within one minute), kept until an add lands there."""
        tail = self._tail_sum
        if tail is None or tail[0] != last:
            tail = self._tail_sum = (last, self._minute_up_to(minute, last))
            self._tail_from, self._tail_to = minute, last
            self._at = None  # so the next add, whatever its second, is checked against them
        return tail[1]

    def _minute_up_to(self, minute: int, last: int) -> list[float]:
        """The sum over ``minute..last``: the minute's pane itself when nothing was added to it
        after ``last`` (live reads: nothing is newer than now), else its chunk's pairs.

        The minute pane received the same amounts in the same order as the chunk (both from
        :meth:`add`), so it is the same floats as adding up the chunk, without reading a busy
        minute's hundreds of pairs. The chunk's greatest code is found by reading only what was
        appended since the last look (chunks only grow)."""
        chunk = self.levels[0].get(minute)
        if chunk is None:
            return [0.0] * WIDTH
        seen_minute, scanned, high = self._chunk_high
        if seen_minute != minute:
            scanned, high = 0, -1.0
        for position in range(scanned, len(chunk), 2):
            if chunk[position] > high:
                high = chunk[position]
        self._chunk_high = (minute, len(chunk), high)
        pane = self.levels[1].get(minute)
        if pane is not None and high < (last - minute + 1) << _SHIFT:
            return pane.tolist()
        return self._sum_onto([0.0] * WIDTH, minute, last)

    def _sum_onto(self, total: list[float], first: int, last: int) -> list[float]:
        second = first
        chunks, minutes, quarters = self.levels
        while second <= last:
            if second % 900 == 0 and second + 899 <= last:
                pane, step = quarters.get(second), 900
            elif self._dense and second % 60 == 0 and second + 59 <= last:
                pane, step = minutes.get(second), 60
            else:
                # A partial minute (a ragged edge of the span), or without minute panes any
                # part of a quarter: its chunk's pairs in range.
                span = self._span
                start = second - second % span
                end = min(last, start + span - 1)
                chunk = chunks.get(start)
                if chunk is not None:
                    low = (second - start) << _SHIFT
                    high = (end - start + 1) << _SHIFT
                    for position in range(0, len(chunk), 2):
                        code = chunk[position]
                        if low <= code < high:
                            total[int(code) & (STRIDE - 1)] += chunk[position + 1]
                second = end + 1
                continue
            if pane is not None:
                # Dense minute and quarter panes: one element-wise add in C per pane.
                total = list(map(add, total, pane))
            second += step
        return total

    def evict(self, keep_from: tuple[int, int, int]) -> None:
        """Drop panes that end before ``keep_from[level]`` (one cutoff per level).

        Panes are created in (nearly) event-time order, so the stale ones are at the front of
        each dict: the scan stops at the first pane still needed instead of walking every pane
        kept (an hour of chunks, a day of minutes) once a minute. A pane created late (an
        out-of-order event within the allowed lateness) behind a newer one is dropped by a later
        eviction; until then it is only memory, since no window reaches past the retention.
        """
        self._at, self._minute_start = None, _NOWHERE
        self._closed, self._closed_from, self._closed_to = None, _NEVER, _NEVER
        self._tail_sum, self._tail_from, self._tail_to = None, _NEVER, _NEVER
        self._chunk_high = (_NOWHERE, 0, -1.0)
        sizes = (self._span, LEVELS[1], LEVELS[2])
        for (size, panes), cutoff in zip(
            zip(sizes, self.levels, strict=True), keep_from, strict=True
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
