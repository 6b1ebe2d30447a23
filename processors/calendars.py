"""Business hours: how many seconds of a calendar's working time lie between two instants.

An instant is *working time* when its local wall-clock time (in the calendar's zone) falls in
one of the working-hour ranges of its local weekday, and its local date is not a holiday. That is
the definition (docs/kpis.md#business-hours), also across daylight-saving changes: a 09:00-17:00
day is 8 hours whatever the day's length, and a range that spans the change holds the instants
whose local time is in it (an hour fewer in spring, an hour more in autumn).

Computed without walking seconds: a span is cut where the zone's UTC offset changes, and in each
piece the local time is the UTC instant plus one offset, so working time is the overlap of that
shifted piece with the ranges of each local day. Whole UTC days are computed once per calendar
and kept: a ticket open for weeks costs a dictionary look-up per day, not a calendar walk.

Also here: :func:`local_midnight`, where a local calendar day starts (the ``today`` window).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from processors.settings import WEEKDAYS, Calendar

__all__ = ["BusinessClock", "local_midnight", "parse_range"]

DAY = 86400
_EPOCH = date(1970, 1, 1).toordinal()
_MAX_SPANS = 500_000


def parse_range(text: str) -> tuple[int, int]:
    """``"09:00-17:30"`` -> (32400, 63000): seconds since local midnight, end exclusive."""
    start, end = text.split("-")
    return _seconds(start), _seconds(end)


def _seconds(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


class BusinessClock:
    """Working seconds between instants, for one :class:`~processors.settings.Calendar`."""

    def __init__(self, calendar: Calendar) -> None:
        self.zone = ZoneInfo(calendar.timezone)
        self.week: list[list[tuple[int, int]]] = [
            sorted(parse_range(text) for text in calendar.hours.get(day, ())) for day in WEEKDAYS
        ]
        self.holidays = {date.fromisoformat(day) for day in calendar.holidays}
        self._days: dict[int, float] = {}
        self._spans: dict[tuple[float, float], float] = {}
        """Partial days already computed: a ticket's SLA clock starts at the same instants at
        every snapshot, and every ticket's ends at the same ``at`` (cleared when large)."""

    def seconds(self, start: float, end: float) -> float:
        """Working seconds in the instants [start, end) (POSIX seconds); 0 if end <= start."""
        if end <= start:
            return 0.0
        first_full = math.ceil(start / DAY)
        last_full = math.floor(end / DAY)
        if first_full >= last_full:
            return self._partial(start, end)
        total = self._partial(start, first_full * DAY)
        days = self._days
        for day in range(first_full, last_full):
            cached = days.get(day)
            if cached is None:
                cached = days[day] = self._span(day * DAY, (day + 1) * DAY)
            total += cached
        return total + self._partial(last_full * DAY, end)

    def _partial(self, start: float, end: float) -> float:
        """:meth:`_span`, remembered (the same floats: the same computation, done once)."""
        key = (start, end)
        found = self._spans.get(key)
        if found is None:
            if len(self._spans) >= _MAX_SPANS:
                self._spans.clear()
            found = self._spans[key] = self._span(start, end)
        return found

    def _offset(self, instant: float) -> int:
        offset = datetime.fromtimestamp(instant, UTC).astimezone(self.zone).utcoffset()
        assert offset is not None
        return int(offset.total_seconds())

    def _span(self, start: float, end: float) -> float:
        """Working seconds in [start, end), a span of at most a day and a bit: cut where the
        UTC offset changes (found to the second; no zone changes twice within a day)."""
        total = 0.0
        while start < end:
            offset = self._offset(start)
            if self._offset(math.nextafter(end, -math.inf)) == offset:
                return total + self._local(start + offset, end + offset)
            low, high = math.floor(start), math.ceil(end)  # offset(low) == offset(start)
            while high - low > 1:  # the first whole second with another offset
                middle = (low + high) // 2
                if self._offset(middle) == offset:
                    low = middle
                else:
                    high = middle
            total += self._local(start + offset, high + offset)
            start = float(high)
        return total

    def _local(self, start: float, end: float) -> float:
        """Working seconds in the local wall-clock span [start, end) (seconds since the local
        epoch, one offset throughout)."""
        total = 0.0
        day = math.floor(start / DAY)
        while day * DAY < end:
            local_date = date.fromordinal(_EPOCH + day)
            if local_date not in self.holidays:
                midnight = day * DAY
                for range_start, range_end in self.week[local_date.weekday()]:
                    overlap = min(end, midnight + range_end) - max(start, midnight + range_start)
                    if overlap > 0:
                        total += overlap
            day += 1
        return total


_DAYS: dict[str, tuple[int, int]] = {}
"""Per time zone, the local day :func:`local_midnight` last found: (its first second, the
next day's)."""


def local_midnight(at: int, timezone: str) -> int:
    """The first whole second of the local calendar day containing ``at`` in ``timezone``.

    Midnight is computed from the local date, not as ``at - 86400``: on a daylight-saving day the
    local day is 23 or 25 hours long. Where a zone skips midnight itself, the day starts at the
    first instant that exists. Every snapshot of every queue asks (the ``today`` window), a
    thousand times a second in a large worker: the day found last is kept per zone, with where
    the next one starts (a day is 23 to 25 hours long, so 25 hours after a midnight is in the
    next day).
    """
    known = _DAYS.get(timezone)
    if known is not None and known[0] <= at < known[1]:
        return known[0]
    start = _local_midnight(at, timezone)
    _DAYS[timezone] = (start, _local_midnight(start + 25 * 3600, timezone))
    return start


def _local_midnight(at: int, timezone: str) -> int:
    zone = ZoneInfo(timezone)
    day: date = datetime.fromtimestamp(at, zone).date()
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    candidate = math.floor(start.timestamp())
    # Guard against a skipped midnight: walk to the first second whose local date is `day`.
    while datetime.fromtimestamp(candidate, zone).date() < day:
        candidate += 60
    while datetime.fromtimestamp(candidate - 1, zone).date() == day:
        candidate -= 60
    return candidate
