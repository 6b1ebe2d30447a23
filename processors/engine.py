"""The KPI engine: apply batches of events, idempotently, and report snapshots.

The same engine runs inside the Faust worker, in ``ccpulse replay``, in the tests and in the
benchmarks; nothing here knows about Kafka. What it guarantees, per queue:

* **Idempotent.** An event whose source position (topic, partition, offset) is at or below the
  last one applied from that partition is skipped (a batch replayed after a crash), and so is an
  event whose id was already applied (a duplicate from the source).
* **Event time, bounded lateness.** An event older than the newest event time of its family
  (telephony or ticketing) in its queue, minus the allowed lateness, is dropped and counted in
  ``late``; anything on time lands in its own second, whatever order it arrived in. The derived
  ``ticket.moved_in`` is exempt: it moves a ticket, it measures nothing. Nor does it move the
  watermark: its time is the move's, on the source queue's clock, and it travels through
  Kafka on its own, so it can reach the new queue ahead of that queue's own earlier events (a
  source partition whose leader died, its producer retrying); had it moved the watermark, they
  would be dropped as late (tests/test_kpi_properties.py).
* **Batched.** :meth:`KpiEngine.apply_grouped` (the worker, already split by queue) and
  :meth:`KpiEngine.apply` take a whole batch and return a :class:`BatchResult`: the queues it
  touched (the caller persists each once per batch, not once per event), the events forwarded
  to other queues, the events refused with their reason, and the counts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

from processors.agents import agents_by_state
from processors.batch import BatchResult, Item, Position, source_key
from processors.calendars import BusinessClock
from processors.event_handlers import event_handlers
from processors.events import TELEPHONY_TYPES, TICKETING_TYPES, Event, TicketMoved, TicketMovedIn
from processors.eviction import EVICT_EVERY_SECONDS, evict_queue, forget_oldest
from processors.panes import PaneStore
from processors.queue_report import (
    channel_windows,
    queue_snapshot,
    span_counters,
    staffing_inputs_of,
    window_of,
)
from processors.queue_runtime import Handler, QueueRuntime
from processors.settings import EngineSettings, parse_window
from processors.snapshot import QueueSnapshot, WindowKpis
from processors.staffing import StaffingFigures, StaffingInputs, staffing_figures
from processors.state import QueueState, new_queue_state

__all__ = ["BatchResult", "Item", "KpiEngine", "Position", "source_key"]
"""The batch types (processors/batch.py) are re-exported: they are the engine's signature, and
the worker, replay and the tests import them from here."""

_FAMILY: dict[type, str] = {
    **{kind: "telephony" for kind in TELEPHONY_TYPES},
    **{kind: "ticketing" for kind in TICKETING_TYPES},
}


class KpiEngine:
    """Per-queue KPI state for the queues one worker (or one replay) owns."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.queues: dict[str, QueueState] = {}
        self._runtime: dict[str, QueueRuntime] = {}
        self._pruned_second: int | None = None
        """The engine second of the last look for runtimes of dropped or replaced states
        (:meth:`snapshot`)."""
        # One handler per event type: a dict look-up instead of a chain of isinstance checks.
        self._handlers: dict[type, Handler] = event_handlers()
        self._clocks = {
            name: BusinessClock(calendar) for name, calendar in self.settings.calendars.items()
        }
        for queue_settings in (self.settings.defaults, *self.settings.queues.values()):
            if queue_settings.calendar is not None and queue_settings.calendar not in self._clocks:
                raise ValueError(f"no calendar {queue_settings.calendar!r} in calendars")
        self._windows = self.settings.window_seconds()
        self._today = next((label for label, length in self._windows if length is None), None)
        windows = [length for _, length in self._windows]
        rolling = [length for length in windows if length is not None]
        staffing_window = parse_window(self.settings.staffing_window)
        if staffing_window is None:
            raise ValueError("staffing_window must be a rolling window (e.g. 15m), not 'today'")
        self._staffing_window = staffing_window
        rolling.append(staffing_window)
        self._lateness = self.settings.allowed_lateness_seconds
        longest_rolling = max(rolling, default=0)
        longest = max([*rolling, 26 * 3600 if None in windows else 0])
        # Second-level detail is needed as far back as the longest rolling window's trailing
        # edge; minute and quarter panes as far back as the longest window of all (``today``
        # <= 25 h).
        self._retention = (
            longest_rolling + self._lateness + 60,
            longest + self._lateness + 900,
            longest + self._lateness + 900,
        )
        self._history = longest + self._lateness
        self._max_ids = self.settings.max_remembered_ids

    # -- applying -----------------------------------------------------------------------------

    def state(self, queue: str) -> QueueState:
        state = self.queues.get(queue)
        if state is None:
            state = self.queues[queue] = new_queue_state(queue)
        return state

    def apply(self, batch: Iterable[tuple[Event, Position | None]]) -> BatchResult:
        """Apply a batch of ``(event, position)`` pairs, split by queue here, each queue's in
        the batch's order: what the state store's restore and the tests call; the worker's
        decoder splits as it decodes and calls :meth:`apply_grouped`. See the module docstring
        for the guarantees."""
        groups: dict[str, list[Item]] = {}
        for event, position in batch:
            item = (event, None, -1) if position is None else (event, position.key, position.offset)
            group = groups.get(event.queue)
            if group is None:
                groups[event.queue] = [item]
            else:
                group.append(item)
        return self.apply_grouped(groups)

    def apply_grouped(self, groups: Mapping[str, Sequence[Item]]) -> BatchResult:
        """Apply a batch already split by queue (``queue -> its events in order``): what
        :meth:`apply` does, without the split. Queues are independent, so only the order within
        each queue matters; the worker's decoder groups as it decodes
        (streams/worker/batching.py)."""
        result = BatchResult()
        for queue, items in groups.items():
            self._apply_queue(queue, items, result)
        self._evict_touched(result)
        return result

    def apply_all(self, events: Iterable[Event]) -> BatchResult:
        """Apply events without source positions (a replay), feeding each forwarded event (a
        ticket moved to another queue) back in right after the event that produced it, as the
        worker's forwarding topic would."""
        result = BatchResult()
        groups: dict[str, list[Item]] = {}
        pending = 0
        for event in events:
            groups.setdefault(event.queue, []).append((event, None, -1))
            pending += 1
            # Grouped by queue in runs that end at each move (its forwarded event goes into
            # another queue right after it) and at a bounded length (memory).
            if type(event) is TicketMoved or pending >= _REPLAY_RUN:
                self._apply_run(groups, result)
                groups, pending = {}, 0
        self._apply_run(groups, result)
        self._evict_touched(result)
        return result

    def _apply_run(self, groups: dict[str, list[Item]], result: BatchResult) -> None:
        for queue, items in groups.items():
            self._apply_queue(queue, items, result)
        while result.forwarded:
            forwarded = result.forwarded.pop(0)
            self._apply_queue(forwarded.queue, [(forwarded, None, -1)], result)

    def _evict_touched(self, result: BatchResult) -> None:
        for queue in result.touched:
            state = self.queues[queue]
            watermark = state.watermark
            if watermark is not None and watermark - state.evicted_through >= EVICT_EVERY_SECONDS:
                self.evict(state)

    def _queue(self, queue: str, create: bool = True) -> QueueRuntime:
        """The queue's :class:`QueueRuntime`; its state is created if new, or (``create=False``) a
        KeyError raised."""
        runtime = self._runtime.get(queue)
        state = self.queues.get(queue)
        if runtime is None or state is None or runtime.state is not state:
            if state is None:
                state = self.state(queue) if create else self.queues[queue]
            settings = self.settings.for_queue(queue)
            clock = self._clocks[settings.calendar] if settings.calendar is not None else None
            runtime = self._runtime[queue] = QueueRuntime(
                state, settings, clock, self.settings.drilldown_length
            )
        return runtime

    def _apply_queue(self, queue: str, items: Iterable[Item], result: BatchResult) -> None:
        """Apply one queue's events in order: skip what was applied before (by offset, then by
        id), drop what is late, hand the rest to the handler of its type."""
        runtime = self._queue(queue)
        state = runtime.state
        offsets = state.offsets
        watermarks = state.watermarks
        seen_ids = state.seen
        lateness = self._lateness
        handlers = self._handlers
        families = _FAMILY
        applied = late = duplicates = ignored = 0
        touched = False
        # A queue's events come in runs of one partition and one family (as fetched): the last
        # offset applied from the partition, and the family's watermark and ids, are kept in
        # locals while a run lasts, and written back when it ends.
        source: str | None = None
        last_offset = -1
        family = ""
        watermark: float | None = None
        seen: dict[str, float] = {}
        for item in items:
            event, key, offset = item
            if key is not None:
                if key is not source:
                    if source is not None:
                        offsets[source] = last_offset
                    source, last_offset = key, offsets.get(key, -1)
                if offset <= last_offset:
                    duplicates += 1
                    continue
                last_offset = offset
                touched = True
            kind = type(event)
            t = event.time.timestamp()
            if families[kind] is not family:
                if watermark is not None:
                    watermarks[family] = watermark
                family = families[kind]
                watermark = watermarks.get(family)
                found = seen_ids.get(family)
                seen = seen_ids[family] = {} if found is None else found
            # A forwarded ticket.moved_in is a state transfer, not a measurement: it comes back
            # through Kafka after the new queue's own events and must never be dropped as late.
            if watermark is not None and t < watermark - lateness and kind is not TicketMovedIn:
                late += 1
                touched = True
                continue
            event_id = event.id
            first_time = seen.get(event_id)
            if first_time is not None:
                if first_time != t:
                    result.refused.append((item, "id_conflict", _conflict(event_id, first_time)))
                else:
                    duplicates += 1
                continue
            seen[event_id] = t
            touched = True
            try:
                counted = handlers[kind](runtime, event, t, result)
            except Exception as error:
                # The last line of defence: the contract (processors/events.py) and the
                # admission checks (processors/admission.py) are there so that no content can
                # make a handler raise. If one still does, that event is refused and its id
                # forgotten, and the rest of the batch is applied: the same at a changelog
                # replay, which applies the same events to the same state.
                del seen[event_id]
                result.refused.append((item, "apply_error", f"{type(error).__name__}: {error}"))
                continue
            if (watermark is None or t > watermark) and kind is not TicketMovedIn:
                watermark = t
            if counted:
                applied += 1
            else:
                ignored += 1
        if source is not None:
            offsets[source] = last_offset
        if watermark is not None:
            watermarks[family] = watermark
        cap = self._max_ids
        for family_seen in seen_ids.values():
            if len(family_seen) > cap:
                forget_oldest(family_seen, len(family_seen) - cap)
        state.late += late
        state.duplicates += duplicates
        state.ignored += ignored
        result.applied += applied
        result.late += late
        result.duplicates += duplicates
        if touched:
            result.touched.add(queue)

    def evict(self, state: QueueState) -> None:
        """Forget what no window and no on-time event can need any more
        (processors/eviction.py)."""
        runtime = self._runtime.get(state.queue)
        panes: PaneStore | None = None
        stores: dict[str, PaneStore] = {}
        if runtime is not None and runtime.state is state:
            panes, stores = runtime.panes, runtime.contacts.stores
        evict_queue(
            state, panes, stores, self.settings, self._lateness, self._retention, self._history
        )

    # -- reporting ----------------------------------------------------------------------------

    def snapshot(
        self, at: float, queues: Iterable[str] | None = None, channels: bool = True
    ) -> dict[str, QueueSnapshot]:
        """KPIs of ``queues`` (default: all) at instant ``at``, truncated to the whole second;
        ``channels``: with the per-channel windows of the queues that have them."""
        second = math.floor(at)
        if queues is None or second != self._pruned_second:
            self._prune_runtimes()
            self._pruned_second = second
        names = sorted(self.queues) if queues is None else queues
        return {
            name: self.queue_snapshot(name, second, channels)
            for name in names
            if name in self.queues
        }

    def _prune_runtimes(self) -> None:
        """Forget the runtime of every dropped or replaced state: never keep a dropped state
        alive. Once per engine second when asked for a few queues at a time: the worker asks
        for one queue at a time, a thousand times a second, and looking at every runtime each
        time was an eighth of its snapshot pass (``make bench``, "Freshness at 20,000
        events/s"). A replaced state is never served meanwhile: :meth:`_queue` checks the
        queue it is asked for."""
        for queue in [q for q, r in self._runtime.items() if self.queues.get(q) is not r.state]:
            del self._runtime[queue]

    def queue_snapshot(self, queue: str, at: int, channels: bool = True) -> QueueSnapshot:
        runtime = self._queue(queue, create=False)
        return queue_snapshot(
            queue,
            runtime,
            at,
            self._windows,
            self._today,
            self.settings.staffing_window,
            self._staffing_window,
            channels,
        )

    def channel_windows(self, queue: str, at: int) -> dict[str, dict[str, dict[str, float | None]]]:
        """The per-channel windows of ``queue`` at second ``at`` (a snapshot's ``channels``,
        for a snapshot taken without them)."""
        runtime = self._queue(queue, create=False)
        return channel_windows(runtime, at, self._windows, self._today)

    def staffing_inputs(self, queue: str, at: int) -> StaffingInputs | None:
        """Arrival rate, AHT, patience and staffed agents of ``queue`` over the staffing window
        ending at ``at`` (None when too thin)."""
        state = self.queues[queue]
        _, staffed = agents_by_state(state, at)
        runtime = self._queue(queue, create=False)
        settings = self.settings.for_queue(queue)
        return staffing_inputs_of(runtime, settings, at, staffed, self._staffing_window)

    def staffing(self, queue: str, at: int, agents: int | None = None) -> StaffingFigures:
        """Live staffing figures of ``queue`` at ``at``, predicted for ``agents`` agents (default:
        the agents staffed now): the what-if of ``ccpulse staffing --queue Q --agents N``."""
        return staffing_figures(self.staffing_inputs(queue, at), agents)

    def window(self, queue: str, at: int, first: int) -> WindowKpis:
        """KPIs over the seconds ``first..at`` (for ad-hoc windows, e.g. replay --window)."""
        return window_of(self._queue(queue, create=False), at, first)

    def take_changed_from(self, queue: str) -> int | None:
        """The earliest second whose counters or agent states changed in ``queue`` since the
        last call (None: nothing changed): the closed intervals from there on may need
        publishing again (processors/intervals.py)."""
        runtime = self._queue(queue, create=False)
        lowest = runtime.panes.take_lowest_added()
        agents, runtime.agents_changed_from = runtime.agents_changed_from, None
        if agents is not None and (lowest is None or agents < lowest):
            lowest = math.floor(agents)
        return lowest

    def changed_before(self, queue: str, second: int) -> bool:
        """Whether a second before ``second`` changed since the last :meth:`take_changed_from`,
        without taking it (the interval tracker's look after each batch)."""
        runtime = self._queue(queue, create=False)
        agents = runtime.agents_changed_from
        return runtime.panes.lowest_added < second or (agents is not None and agents < second)

    def span_counters(
        self, queue: str, bounds: Sequence[int]
    ) -> list[tuple[list[float], float, float]]:
        """Per consecutive span ``[bounds[i], bounds[i + 1])``: its summed counters and its
        agents' busy and available seconds (what :meth:`window` computes KPIs from)."""
        return span_counters(self._queue(queue, create=False), bounds)

    def channel_span_counters(
        self, queue: str, bounds: Sequence[int]
    ) -> dict[str, list[list[float]]]:
        """Per channel of a queue of two channels or more, its summed counters per consecutive
        span (as :meth:`span_counters`); empty for a queue of one channel
        (processors/channels.py)."""
        stores = self._queue(queue, create=False).contacts.channels()
        return {
            channel: [store.sum_coarse(first, end - 1) for first, end in itertools.pairwise(bounds)]
            for channel, store in stores
        }

    def retained_from(self, queue: str) -> int | None:
        """The first second from which every quarter of ``queue`` still has its counters, as
        :meth:`evict` keeps them (None: no event yet)."""
        watermarks = self.queues[queue].watermarks
        if not watermarks:
            return None
        return math.floor(min(watermarks.values()) - self._retention[2])

    def owned(self) -> Iterator[str]:
        return iter(self.queues)


_REPLAY_RUN = 10_000
"""Longest run of events :meth:`KpiEngine.apply_all` groups by queue before applying them."""


def _conflict(event_id: str, first_time: float) -> str:
    first = datetime.fromtimestamp(first_time, UTC).isoformat()
    return f"id {event_id[:64]!r} was already applied with another event time ({first})"
