"""Closed 15-minute intervals: their counters, their KPIs and when to publish them (again).

A queue's 15-minute interval ``[start, start + 900)`` of event time is *closed* once the queue's
newest event time minus the allowed lateness has passed its end: from then on only an event
that is late for one family but on time for the other (telephony and ticketing have their own
watermarks), a ticket moved in, or a correction of an earlier count (a first reply found
earlier, a call whose entry arrives after its exit) can still change it.

An interval is its summed counters (processors/counters.py) and its agents' busy and available
seconds: every window KPI of the interval follows from them by the formulas of
processors/formulas.py, the same as ``/api/kpis`` windows, and adjacent intervals combine
exactly into 30 minutes, an hour or a day by adding those numbers (never by averaging rates):
:func:`combine`.

:class:`IntervalTracker` says, after each batch, which closed intervals of the touched queues
have a record that differs from the one last known to be in Kafka (``QueueState.intervals``,
kept in the changelog with the rest of the state): those are published, and confirmed into the
state once delivered. A worker that crashed between sending and confirming sends the same
record again (same key, same value: a compacted topic keeps one), so no interval is lost or
counted twice. Only the engine's state decides the records: a replay of the same events gives
the same records (``ccpulse report --from-events``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from processors.channels import CONTACT_COUNTERS
from processors.counters import WIDTH, CounterIndex
from processors.engine import KpiEngine
from processors.formulas import ratio, window_kpis
from processors.kpis import CHANNEL_KPIS
from processors.settings import FlowOutChoice, QueueSettings, SlVariant
from processors.snapshot import WindowKpis
from processors.state import QueueState

__all__ = [
    "COUNTER_NAMES",
    "INTERVAL_SECONDS",
    "SCHEMA_VERSION",
    "ClosedInterval",
    "IntervalCounters",
    "IntervalTracker",
    "combine",
    "contact_only",
    "interval_key",
    "interval_record",
    "iso",
    "parse_record",
]

INTERVAL_SECONDS = 900
SCHEMA_VERSION = 1
COUNTER_NAMES: tuple[str, ...] = tuple(counter.name.lower() for counter in CounterIndex)
"""The counters' names in a record, in the order of :class:`~processors.counters.CounterIndex`."""


@dataclass(frozen=True, slots=True)
class KpiChoices:
    """The queue settings an interval's KPIs depend on besides its counters: which SL variant,
    and whether callback requests and flow-outs count against abandonment and service level.
    Each record carries them, so a report recomputes exactly the KPIs the worker published."""

    sl_variant: SlVariant = "offered"
    sl_callbacks: FlowOutChoice = "excluded"
    sl_flow_outs: FlowOutChoice = "excluded"

    @classmethod
    def of(cls, settings: QueueSettings) -> KpiChoices:
        return cls(settings.sl_variant, settings.sl_callbacks, settings.sl_flow_outs)


@dataclass(frozen=True, slots=True)
class IntervalCounters:
    """What a span of event time adds up to: ``[start, start + seconds)``."""

    start: int
    seconds: int
    counters: tuple[float, ...]
    busy_seconds: float
    available_seconds: float
    channels: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per contact channel with something in the span, its counters (only the contact counters
    are non-zero: processors/channels.py)."""

    @property
    def active(self) -> bool:
        """Anything counted, or any agent logged in, in the span."""
        return any(self.counters) or self.busy_seconds + self.available_seconds > 0

    def kpis(self, choices: KpiChoices) -> WindowKpis:
        """The span's window KPIs (processors/formulas.py), occupancy included."""
        occupancy = ratio(self.busy_seconds, self.busy_seconds + self.available_seconds)
        against = choices.sl_callbacks == "against", choices.sl_flow_outs == "against"
        return window_kpis(list(self.counters), choices.sl_variant, occupancy, against)


def combine(parts: Sequence[IntervalCounters], adjacent: bool = True) -> IntervalCounters:
    """Spans, in order, as one: counters and agent seconds added (exact: every KPI of the
    whole is a formula over these sums). ``adjacent``: refuse a gap between two (a report
    restricted to business hours leaves some out on purpose)."""
    if not parts:
        raise ValueError("nothing to combine")
    for before, after in itertools.pairwise(parts):
        if adjacent and before.start + before.seconds != after.start:
            raise ValueError(
                f"spans not adjacent: {before.start} + {before.seconds} != {after.start}"
            )
    totals = [0.0] * WIDTH
    channels: dict[str, list[float]] = {}
    for part in parts:
        for index, value in enumerate(part.counters):
            totals[index] += value
        for channel, counters in part.channels.items():
            summed = channels.setdefault(channel, [0.0] * WIDTH)
            for index, value in enumerate(counters):
                summed[index] += value
    return IntervalCounters(
        start=parts[0].start,
        seconds=sum(part.seconds for part in parts),
        counters=tuple(totals),
        busy_seconds=sum(part.busy_seconds for part in parts),
        available_seconds=sum(part.available_seconds for part in parts),
        channels={channel: tuple(summed) for channel, summed in sorted(channels.items())},
    )


def iso(second: int) -> str:
    """``second`` as ISO 8601 UTC text; the last few thousand are kept (a record names two,
    a key one, and a flush names the same quarters for every queue)."""
    text = _ISO.get(second)
    if text is None:
        if len(_ISO) >= _ISO_KEPT:
            _ISO.clear()
        text = _ISO[second] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


_ISO: dict[int, str] = {}
_ISO_KEPT = 4096


def interval_key(queue: str, start: int) -> bytes:
    """The record's Kafka key: one per queue and interval, so compaction keeps the last."""
    return f"{queue}|{iso(start)}".encode()


def interval_record(queue: str, span: IntervalCounters, choices: KpiChoices) -> dict[str, Any]:
    """The JSON document of ``ccpulse.intervals`` (docs/events.md, schema version 1)."""
    record = {
        "schema_version": SCHEMA_VERSION,
        "queue": queue,
        "interval_start": iso(span.start),
        "interval_end": iso(span.start + span.seconds),
        "interval_seconds": span.seconds,
        "sl_variant": choices.sl_variant,
        "sl_callbacks": choices.sl_callbacks,
        "sl_flow_outs": choices.sl_flow_outs,
        "kpis": msgspec.structs.asdict(span.kpis(choices)),
        "counters": dict(zip(COUNTER_NAMES, span.counters, strict=True)),
        "agent_busy_seconds": span.busy_seconds,
        "agent_available_seconds": span.available_seconds,
    }
    if span.channels:
        against = choices.sl_callbacks == "against", choices.sl_flow_outs == "against"
        record["channels"] = {
            channel: {
                "kpis": _channel_kpis(
                    window_kpis(list(counters), choices.sl_variant, None, against)
                ),
                "counters": {name: counters[i] for i, name in _CONTACT_COUNTER_NAMES},
            }
            for channel, counters in span.channels.items()
        }
    return record


_CONTACT_COUNTER_NAMES = tuple((i, COUNTER_NAMES[i]) for i in sorted(CONTACT_COUNTERS))


def _channel_kpis(kpis: WindowKpis) -> dict[str, Any]:
    return {name: getattr(kpis, name) for name in CHANNEL_KPIS}


def contact_only(counters: Sequence[float]) -> tuple[float, ...]:
    """``counters`` with every counter but the contact counters zero: the one channel of a
    queue that has seen one (its contacts are all of it)."""
    return tuple(v if i in CONTACT_COUNTERS else 0.0 for i, v in enumerate(counters))


def parse_record(document: dict[str, Any]) -> tuple[str, KpiChoices, IntervalCounters]:
    """(queue, KPI choices, counters) of a record read back (a counter a later schema added
    and an older record lacks is 0; so is a choice: the default)."""
    if document.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"unknown schema_version {document.get('schema_version')!r}")
    start = datetime.fromisoformat(document["interval_start"].replace("Z", "+00:00"))
    counters = document["counters"]
    span = IntervalCounters(
        start=math.floor(start.timestamp()),
        seconds=int(document["interval_seconds"]),
        counters=tuple(float(counters.get(name, 0.0)) for name in COUNTER_NAMES),
        busy_seconds=float(document["agent_busy_seconds"]),
        available_seconds=float(document["agent_available_seconds"]),
    )
    for channel, part in document.get("channels", {}).items():
        named = part["counters"]
        span.channels[channel] = tuple(float(named.get(name, 0.0)) for name in COUNTER_NAMES)
    choices = KpiChoices(
        document["sl_variant"],
        document.get("sl_callbacks", "excluded"),
        document.get("sl_flow_outs", "excluded"),
    )
    return document["queue"], choices, span


@dataclass(frozen=True, slots=True)
class ClosedInterval:
    """One record to publish: its key, its value and the fingerprint to confirm."""

    queue: str
    start: int
    key: bytes
    value: bytes
    fingerprint: int


def _fingerprint(span: IntervalCounters, choices: KpiChoices) -> int:
    """A digest of everything an interval's record is computed from (its counters, agent
    seconds, channels and KPI choices; its queue and start are its key): equal inputs, equal
    records. Computed before the record, so that the record of an interval that did not change
    (most of those a flush looks at again) is never encoded. Stable across processes: it is
    kept in the state (``QueueState.intervals``) and compared after a recovery."""
    numbers = array("d", span.counters)
    numbers.append(span.busy_seconds)
    numbers.append(span.available_seconds)
    for sums in span.channels.values():
        numbers.extend(sums)
    names = "|".join(
        (choices.sl_variant, choices.sl_callbacks, choices.sl_flow_outs, *span.channels)
    )
    digest = hashlib.blake2b(numbers.tobytes(), digest_size=8)
    digest.update(names.encode())
    return int.from_bytes(digest.digest(), "big")


_encoder = msgspec.json.Encoder()


class IntervalTracker:
    """Which closed intervals of an engine's queues to publish (again); pure bookkeeping.

    Per queue it remembers, in memory, the end of the closed intervals it has looked at and the
    fingerprints it has sent and not yet seen confirmed; a queue whose state object was replaced
    (recovered after a crash or a rebalance) is looked at again over every retained interval.
    """

    def __init__(self, engine: KpiEngine, defer_republish: bool = False) -> None:
        self.engine = engine
        self._lateness = engine.settings.allowed_lateness_seconds
        self._seen: dict[str, tuple[QueueState, int, dict[int, int]]] = {}
        self._defer = defer_republish
        """Changes to intervals already closed wait for :meth:`flush` instead of the next
        :meth:`due` (the worker flushes every few seconds)."""
        self._dirty: dict[str, int] = {}
        """Per queue, the first quarter changed below its closed end since the last flush."""

    def closed_end(self, state: QueueState) -> int | None:
        """The end of the last closed interval of ``state`` (None: no event yet)."""
        watermark = state.watermark
        if watermark is None:
            return None
        horizon = math.floor(watermark - self._lateness)
        return horizon - horizon % INTERVAL_SECONDS

    def due(self, queues: Iterable[str], full: bool = False) -> list[ClosedInterval]:
        """The closed intervals of ``queues`` whose record is not the one last confirmed (nor
        sent since); ``full``: look at every retained closed interval, not only those that
        closed or changed since the last call."""
        out: list[ClosedInterval] = []
        states, seen_of, engine = self.engine.queues, self._seen, self.engine
        for queue in queues:
            state = states.get(queue)
            if state is None:
                continue
            seen = None if full else seen_of.get(queue)
            if seen is not None and seen[0] is state:
                # The common case, after almost every batch, checked inline (this runs for
                # every queue of every batch): no interval closed since the last look (the
                # watermark is still short of closing the next one) and none that was closed
                # changed; a look that takes nothing (what changed is taken with the next
                # close, and it is all at or after the closed end).
                watermark = state.watermark
                if (
                    watermark is not None
                    and watermark - self._lateness < seen[1] + INTERVAL_SECONDS
                    and not engine.changed_before(queue, seen[1])
                ):
                    continue
            out.extend(self._due(queue, state, full))
        return out

    def _due(self, queue: str, state: QueueState, full: bool) -> list[ClosedInterval]:
        end = self.closed_end(state)
        if end is None:
            return []
        seen = self._seen.get(queue)
        changed = self.engine.take_changed_from(queue)
        changed_from = end if changed is None else changed - changed % INTERVAL_SECONDS
        retained = self.engine.retained_from(queue)
        if retained is None:
            return []
        if seen is not None and seen[0] is state and not full:
            low, sent = min(seen[1], changed_from), seen[2]
            if self._defer and low < seen[1]:
                self._dirty[queue] = min(self._dirty.get(queue, low), low)
                low = seen[1]  # now only what closed since; the changes at the next flush
        else:  # new to this tracker, recovered, or asked for all: every retained interval
            low, sent = -(2**62), {} if seen is None or seen[0] is not state else seen[2]
            self._dirty.pop(queue, None)
        self._seen[queue] = (state, end, sent)
        return self._records(queue, state, low, end, retained, sent)

    def flush(self) -> list[ClosedInterval]:
        """With ``defer_republish``: the records of the closed intervals changed since the last
        flush. A queue whose state was replaced meanwhile is skipped: its next :meth:`due`
        looks at every retained interval anyway."""
        out: list[ClosedInterval] = []
        dirty, self._dirty = self._dirty, {}
        for queue, low in dirty.items():
            state = self.engine.queues.get(queue)
            seen = self._seen.get(queue)
            retained = self.engine.retained_from(queue)
            if state is None or seen is None or seen[0] is not state or retained is None:
                continue
            out.extend(self._records(queue, state, low, seen[1], retained, seen[2]))
        return out

    def _records(
        self, queue: str, state: QueueState, low: int, end: int, retained: int, sent: dict[int, int]
    ) -> list[ClosedInterval]:
        """The records of the closed intervals of ``queue`` in ``[low, end)`` that differ from
        the one confirmed or last sent (``sent``, updated)."""
        first_kept = retained + (-retained) % INTERVAL_SECONDS
        quarters = state.panes[2]
        for start in [s for s in state.intervals if s < first_kept and s not in quarters]:
            del state.intervals[start]  # its counters are gone: it can never change again
        # Quarters older than the retention that still hold counters (a ticket moved in is
        # never late, and brings its history): one at a time; then the retained run.
        runs = [
            [start, start + INTERVAL_SECONDS]
            for start in quarters
            if low <= start < min(first_kept, end)
        ]
        run_start = max(low, first_kept)
        if run_start < end:
            runs.append(list(range(run_start, end + 1, INTERVAL_SECONDS)))
        choices = KpiChoices.of(self.engine.settings.for_queue(queue))
        out = []
        for bounds in runs:
            spans = self.engine.span_counters(queue, bounds)
            by_channel = self.engine.channel_span_counters(queue, bounds)
            for index, (start, (counters, busy, available)) in enumerate(
                zip(bounds, spans, strict=False)
            ):
                # A channel with nothing in the interval is left out, so a record is the same
                # whether it was written before the queue's second channel appeared or after.
                if by_channel:
                    channels = {c: tuple(sums[index]) for c, sums in by_channel.items()}
                elif state.channel is not None:
                    channels = {state.channel: contact_only(counters)}
                else:
                    channels = {}
                channels = {c: sums for c, sums in channels.items() if any(sums)}
                span = IntervalCounters(
                    start, INTERVAL_SECONDS, tuple(counters), busy, available, channels
                )
                confirmed = state.intervals.get(start)
                if confirmed is None and start not in sent and not span.active:
                    continue  # nothing ever happened in it
                fingerprint = _fingerprint(span, choices)
                if fingerprint == sent.get(start, confirmed):
                    continue
                sent[start] = fingerprint
                value = _encoder.encode(interval_record(queue, span, choices))
                key = interval_key(queue, start)
                out.append(ClosedInterval(queue, start, key, value, fingerprint))
        return out

    def confirmed(self, interval: ClosedInterval, state: QueueState) -> None:
        """``interval``'s record is in Kafka: remember it in ``state`` (if still the queue's)."""
        if self.engine.queues.get(interval.queue) is not state:
            return
        state.intervals[interval.start] = interval.fingerprint
        seen = self._seen.get(interval.queue)
        if (
            seen is not None
            and seen[0] is state
            and seen[2].get(interval.start) == interval.fingerprint
        ):
            del seen[2][interval.start]

    def queues(self) -> list[str]:
        """The queues this tracker remembers something of."""
        return list(self._seen)

    def forget(self, queues: Iterable[str]) -> None:
        for queue in queues:
            self._seen.pop(queue, None)
