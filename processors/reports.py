"""Interval reports: 15-minute interval counters grouped into 15 min, 30 min, 1 h or 1 d rows.

A row's KPIs are the formulas of processors/formulas.py over the row's summed counters and
agent seconds (processors/intervals.py :func:`~processors.intervals.combine`), never an average
of the intervals' rates: a 1-hour abandonment rate is the hour's abandoned calls over the hour's
exits. Rows start on the local clock of the report's time zone (a 1 d row is a local calendar
day: 23 or 25 hours on a daylight-saving day). A 15-minute interval without a record had
nothing in it and adds zero.

Business hours (``mon-fri 08:00-18:00``, days and a local time range; several separated by
``;``) keep only the 15-minute intervals wholly inside open hours, before grouping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from processors.counters import WIDTH
from processors.intervals import INTERVAL_SECONDS, IntervalCounters, KpiChoices, combine
from processors.snapshot import WindowKpis

__all__ = [
    "REPORT_INTERVALS",
    "BusinessHours",
    "ReportRow",
    "bucket_start",
    "parse_instant",
    "report_rows",
]

REPORT_INTERVALS: dict[str, int | None] = {"15m": 900, "30m": 1800, "1h": 3600, "1d": None}
"""Row length in seconds; None: a local calendar day."""

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class ReportRow:
    queue: str
    start: int
    end: int
    span: IntervalCounters
    kpis: WindowKpis


def bucket_start(start: int, interval: str, zone: ZoneInfo) -> int:
    """The start of the row holding the 15-minute interval that starts at ``start``."""
    local = datetime.fromtimestamp(start, zone)
    length = REPORT_INTERVALS[interval]
    if length is None:
        midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
        return int(midnight.timestamp())
    into = (local.hour * 3600 + local.minute * 60 + local.second) % length
    return start - into


class BusinessHours:
    """Open hours per weekday, local to a time zone (``mon-fri 08:00-18:00; sat 09:00-12:00``)."""

    def __init__(self, spec: str, zone: ZoneInfo) -> None:
        self.zone = zone
        self.open: dict[int, list[tuple[time, time]]] = {}
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            match = re.fullmatch(
                r"([a-z]{3})(?:-([a-z]{3}))?\s+(\d\d):(\d\d)-(\d\d):(\d\d)", part.lower()
            )
            if not match or match.group(1) not in _DAYS or (match.group(2) or "mon") not in _DAYS:
                raise ValueError(f"business hours {part!r}: expected e.g. 'mon-fri 08:00-18:00'")
            first = _DAYS.index(match.group(1))
            last = _DAYS.index(match.group(2)) if match.group(2) else first
            h1, m1, h2, m2 = (int(match.group(i)) for i in range(3, 7))
            if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h1, m1) >= (h2, m2):
                raise ValueError(f"business hours {part!r}: not a time range within a day")
            opens = time(h1, m1)
            closes = time.max if h2 == 24 else time(h2, m2)
            for day in range(first, last + 1):
                self.open.setdefault(day, []).append((opens, closes))

    def covers(self, start: int, seconds: int) -> bool:
        """Whether ``[start, start + seconds)`` lies wholly within open hours."""
        local = datetime.fromtimestamp(start, self.zone)
        local_end = datetime.fromtimestamp(start + seconds, self.zone) - timedelta(microseconds=1)
        if local_end.date() != local.date():
            return False
        return any(
            opens <= local.time() and local_end.time() < closes
            for opens, closes in self.open.get(local.weekday(), [])
        )


def report_rows(
    intervals: Iterable[tuple[str, KpiChoices, IntervalCounters]],
    interval: str,
    zone: ZoneInfo,
    first: int,
    end: int,
    business_hours: BusinessHours | None = None,
) -> list[ReportRow]:
    """Rows per queue and ``interval`` over the 15-minute intervals starting in
    ``[first, end)``, ordered by queue and start. A row has the KPI choices (SL variant...) of its
    queue's latest record."""
    by_queue: dict[str, dict[int, IntervalCounters]] = {}
    variants: dict[str, KpiChoices] = {}
    for queue, variant, span in intervals:
        if span.seconds != INTERVAL_SECONDS or not first <= span.start < end:
            continue
        if business_hours is not None and not business_hours.covers(span.start, span.seconds):
            continue
        by_queue.setdefault(queue, {})[span.start] = span
        variants[queue] = variant
    rows: list[ReportRow] = []
    for queue in sorted(by_queue):
        buckets: dict[int, list[int]] = {}
        for start in sorted(by_queue[queue]):
            buckets.setdefault(bucket_start(start, interval, zone), []).append(start)
        for bucket, starts in buckets.items():
            # Every quarter from the bucket's first kept one to its last, zeros where none.
            quarters = range(starts[0], starts[-1] + INTERVAL_SECONDS, INTERVAL_SECONDS)
            parts = [by_queue[queue].get(start) or _empty(start) for start in quarters]
            if business_hours is not None:
                parts = [p for p in parts if business_hours.covers(p.start, p.seconds)]
            span = combine(parts, adjacent=business_hours is None)
            length = REPORT_INTERVALS[interval]
            row_end = _day_end(bucket, zone) if length is None else bucket + length
            rows.append(ReportRow(queue, bucket, row_end, span, span.kpis(variants[queue])))
    return rows


def _empty(start: int) -> IntervalCounters:
    return IntervalCounters(start, INTERVAL_SECONDS, (0.0,) * WIDTH, 0.0, 0.0)


def _day_end(start: int, zone: ZoneInfo) -> int:
    local = datetime.fromtimestamp(start, zone).date() + timedelta(days=1)
    return int(datetime(local.year, local.month, local.day, tzinfo=zone).timestamp())


def parse_instant(text: str, zone: ZoneInfo, end_of_day: bool = False) -> int:
    """A date (``2026-12-04``: its local midnight in ``zone``; with ``end_of_day`` the next
    one) or an ISO instant with an offset (``2026-12-04T10:00:00Z``)."""
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        day = datetime.fromisoformat(text).date()
        if end_of_day:
            day += timedelta(days=1)
        return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.astimezone(UTC).timestamp())
