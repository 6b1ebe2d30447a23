"""The KPI engine: apply batches of events, idempotently, and report snapshots.

The same engine runs inside the Faust worker, in ``ccpulse replay``, in the tests and in the
benchmarks; nothing here knows about Kafka. What it guarantees, per queue:

* **Idempotent.** An event whose source position (topic, partition, offset) is at or below the
  last one applied from that partition is skipped (a batch replayed after a crash), and so is an
  event whose id was already applied (a duplicate from the source).
* **Event time, bounded lateness.** An event older than the newest event time of its family
  (telephony or ticketing) in its queue, minus the allowed lateness, is dropped and counted in
  ``late``; anything on time lands in its own second, whatever order it arrived in. The derived
  ``ticket.moved_in`` is exempt: it moves a ticket, it measures nothing.
* **Batched.** :meth:`KpiEngine.apply_grouped` (the worker, already split by queue) and
  :meth:`KpiEngine.apply` take a whole batch and return a :class:`BatchResult`: the queues it
  touched (the caller persists each once per batch, not once per event), the events forwarded
  to other queues, the events refused with their reason, and the counts.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from processors.agents import (
    WindowOccupancy,
    agents_by_state,
    apply_agent_state,
    busy_available_cells,
    evict_agents,
    occupancy,
)
from processors.calendars import BusinessClock
from processors.callbacks import (
    callbacks_pending,
    evict_callbacks,
    on_callback_attempted,
    on_callback_completed,
    on_callback_requested,
    on_transferred,
)
from processors.calls import CALL_HANDLERS, CallHandler, calls_waiting, evict_calls
from processors.contacts import apply_contact, evict_contacts
from processors.drilldown import (
    DEFAULT_LENGTH,
    DRILL_HANDLERS,
    DrillHandler,
    evict_drilldown,
    on_agent_state,
    on_call_event,
)
from processors.events import (
    TELEPHONY_TYPES,
    TICKETING_TYPES,
    AgentStateChanged,
    CallCallbackAttempted,
    CallCallbackCompleted,
    CallCallbackRequested,
    CallEntered,
    CallMissed,
    CallTransferred,
    Event,
    IvrEntered,
    IvrExited,
    SurveyResponse,
    TicketCreated,
    TicketMoved,
    TicketMovedIn,
)
from processors.formulas import window_kpis
from processors.ivr import evict_ivr, ivr_active, on_ivr_entered, on_ivr_exited
from processors.panes import PaneStore
from processors.settings import EngineSettings, QueueSettings, parse_window
from processors.snapshot import LiveKpis, QueueSnapshot, WindowKpis
from processors.staffing import StaffingFigures, StaffingInputs, staffing_figures, staffing_inputs
from processors.state import QueueState, new_queue_state
from processors.ticket_sla import ticket_sla_gauges
from processors.tickets import (
    TicketEvent,
    apply_survey,
    apply_ticket_event,
    backlog,
    evict_tickets,
    in_backlog_after_all_changes,
    ticket_gauges,
)

__all__ = ["BatchResult", "Item", "KpiEngine", "Position", "local_midnight", "source_key"]

EVICT_EVERY_SECONDS = 60.0
SLOW_EVICT_SECONDS = 3600.0
"""FCR contacts and tickets are evicted once per hour of event time, not every minute: each
eviction scans every customer and every remembered ticket (a week of solved ones) of the queue,
which dominated catch-up runs (a queue is evicted after every batch there: ``make bench``).
What is kept up to an hour longer than needed is a day's or a week's worth plus an hour, and
changes no KPI (docs/kpis.md, Retention)."""
_FAMILY: dict[type, str] = {
    **{kind: "telephony" for kind in TELEPHONY_TYPES},
    **{kind: "ticketing" for kind in TICKETING_TYPES},
}


@functools.lru_cache(maxsize=4096)
def source_key(topic: str, partition: int) -> str:
    """The key under which a queue's state remembers the last offset applied from a
    partition (``QueueState.offsets``)."""
    return f"{topic}:{partition}"


Item = tuple[Event, str | None, int]
"""An event ready for :meth:`KpiEngine.apply_grouped`: (event, :func:`source_key` of the
partition it came from or None, its offset there (ignored without a key))."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where an event came from: used to skip what a previous run already applied."""

    topic: str
    partition: int
    offset: int

    @property
    def key(self) -> str:
        return source_key(self.topic, self.partition)


@dataclass(slots=True)
class BatchResult:
    touched: set[str] = field(default_factory=set)
    """Queues whose state changed (persist these once)."""
    forwarded: list[TicketMovedIn] = field(default_factory=list)
    """Events for other queues (a ticket moved away): produce them keyed by their queue."""
    refused: list[tuple[Item, str, str]] = field(default_factory=list)
    """Events the engine would not count, with a reason code and a sentence: an id already
    applied with another event time (``id_conflict``), or an event its handler raised on
    (``apply_error``). The worker sends them to the dead-letter topic; the queue's other events
    are applied."""
    applied: int = 0
    late: int = 0
    duplicates: int = 0


class _Queue:
    """What the engine keeps beside one queue's state to apply and report on it quickly: its
    pane store, its settings, its agents' occupancy per closed minute and quarter, and the ids
    of its tickets in the backlog once all their changes are in (None until first needed).
    Rebuilt whenever the queue's state object is replaced (a recovery, a test, a replay from a
    snapshot), so it can never describe another state."""

    __slots__ = (
        "agents_changed_from",
        "clock",
        "drill_length",
        "fcr_window",
        "occupancy",
        "open_tickets",
        "panes",
        "settings",
        "state",
    )

    def __init__(
        self,
        state: QueueState,
        settings: QueueSettings,
        clock: BusinessClock | None = None,
        drill_length: int = DEFAULT_LENGTH,
    ) -> None:
        self.state = state
        self.clock = clock
        """The business-hours clock of the queue's calendar (None: around the clock)."""
        self.drill_length = drill_length
        self.panes = PaneStore(state.panes)
        self.occupancy = WindowOccupancy(state)
        self.settings = settings
        self.fcr_window = settings.fcr_window_hours * 3600.0
        self.open_tickets: set[str] | None = None
        self.agents_changed_from: float | None = None
        """The earliest agent change applied since :meth:`KpiEngine.take_changed_from`."""

    def ticket_index(self) -> set[str]:
        if self.open_tickets is None:
            self.open_tickets = {
                ticket_id
                for ticket_id, ticket in self.state.tickets.items()
                if in_backlog_after_all_changes(ticket)
            }
        return self.open_tickets


Handler = Callable[[_Queue, Any, float, BatchResult], bool]


class KpiEngine:
    """Per-queue KPI state for the queues one worker (or one replay) owns."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.queues: dict[str, QueueState] = {}
        self._runtime: dict[str, _Queue] = {}
        # One handler per event type: a dict look-up instead of a chain of isinstance checks.
        self._handlers: dict[type, Handler] = {
            **{
                kind: _call_handler(apply, DRILL_HANDLERS.get(kind))
                for kind, apply in CALL_HANDLERS.items()
            },
            CallEntered: self._on_entered,
            AgentStateChanged: self._on_agent,
            CallTransferred: _call_handler(on_transferred),
            CallCallbackRequested: _call_handler(on_callback_requested),
            CallCallbackAttempted: _call_handler(on_callback_attempted),
            CallCallbackCompleted: _call_handler(on_callback_completed),
            IvrEntered: _call_handler(on_ivr_entered),
            IvrExited: _call_handler(on_ivr_exited),
            CallMissed: _on_missed,
            SurveyResponse: _on_survey,
            **{kind: _on_ticket for kind in TICKETING_TYPES if kind is not SurveyResponse},
        }
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

    def _queue(self, queue: str, create: bool = True) -> _Queue:
        """The queue's :class:`_Queue`; its state is created if new, or (``create=False``) a
        KeyError raised."""
        runtime = self._runtime.get(queue)
        state = self.queues.get(queue)
        if runtime is None or state is None or runtime.state is not state:
            if state is None:
                state = self.state(queue) if create else self.queues[queue]
            settings = self.settings.for_queue(queue)
            clock = self._clocks[settings.calendar] if settings.calendar is not None else None
            runtime = self._runtime[queue] = _Queue(
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
            if watermark is None or t > watermark:
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
                _forget_oldest(family_seen, len(family_seen) - cap)
        state.late += late
        state.duplicates += duplicates
        state.ignored += ignored
        result.applied += applied
        result.late += late
        result.duplicates += duplicates
        if touched:
            result.touched.add(queue)

    def _on_entered(
        self, runtime: _Queue, event: CallEntered, t: float, result: BatchResult
    ) -> bool:
        state, panes = runtime.state, runtime.panes
        applied = CALL_HANDLERS[CallEntered](state, panes, event, t, runtime.settings)
        if applied:
            on_call_event(state, event, t, runtime.drill_length, runtime.settings.timezone)
            if event.customer is not None:
                apply_contact(state, panes, event.customer, t, event.id, runtime.fcr_window)
        return applied

    def _on_agent(
        self, runtime: _Queue, event: AgentStateChanged, t: float, result: BatchResult
    ) -> bool:
        runtime.occupancy.changed(t)
        if runtime.agents_changed_from is None or t < runtime.agents_changed_from:
            runtime.agents_changed_from = t
        applied = apply_agent_state(runtime.state, event.agent, t, event.state)
        if applied and event.reason is not None:
            on_agent_state(runtime.state, event, t)
        return applied

    def evict(self, state: QueueState) -> None:
        """Forget what no window and no on-time event can need any more.

        Each family's facts are evicted against that family's own lateness horizon; what both
        families feed (panes, FCR contacts) against the older of the two.
        """
        if not state.watermarks:
            return
        horizons = {family: mark - self._lateness for family, mark in state.watermarks.items()}
        oldest = min(state.watermarks.values())
        runtime = self._runtime.get(state.queue)
        panes = runtime.panes if runtime is not None and runtime.state is state else None
        (panes or PaneStore(state.panes)).evict(
            (
                math.floor(oldest - self._retention[0]),
                math.floor(oldest - self._retention[1]),
                math.floor(oldest - self._retention[2]),
            )
        )
        for family, seen in state.seen.items():
            _evict_seen(seen, horizons[family])
        if "telephony" in state.watermarks:
            phone = state.watermarks["telephony"]
            evict_calls(state, horizons["telephony"], phone - self.settings.max_open_call_seconds)
            evict_ivr(state, horizons["telephony"], phone - self.settings.max_open_call_seconds)
            evict_agents(state, phone - self._history)
            evict_callbacks(
                state, horizons["telephony"], phone - self.settings.max_open_callback_seconds
            )
            evict_drilldown(state, horizons["telephony"])
        through = max(state.watermarks.values())
        if math.floor(through / SLOW_EVICT_SECONDS) != math.floor(
            state.evicted_through / SLOW_EVICT_SECONDS
        ):
            if "ticketing" in state.watermarks:
                retention = self.settings.closed_ticket_retention_hours * 3600.0
                closed_before = state.watermarks["ticketing"] - retention
                evict_tickets(state, horizons["ticketing"], closed_before)
            max_fcr = self.settings.for_queue(state.queue).fcr_window_hours * 3600.0
            evict_contacts(state, min(horizons.values()) - max_fcr)
        state.evicted_through = through

    # -- reporting ----------------------------------------------------------------------------

    def snapshot(self, at: float, queues: Iterable[str] | None = None) -> dict[str, QueueSnapshot]:
        """KPIs of ``queues`` (default: all) at instant ``at``, truncated to the whole second."""
        second = math.floor(at)
        for queue in [q for q, r in self._runtime.items() if self.queues.get(q) is not r.state]:
            del self._runtime[queue]  # dropped or replaced: never keep a dropped state alive
        names = sorted(self.queues) if queues is None else queues
        return {name: self.queue_snapshot(name, second) for name in names if name in self.queues}

    def queue_snapshot(self, queue: str, at: int) -> QueueSnapshot:
        runtime = self._queue(queue, create=False)
        state, settings, panes = runtime.state, runtime.settings, runtime.panes
        windows: dict[str, WindowKpis] = {}
        firsts = {
            label: at - length + 1 if length else local_midnight(at, settings.timezone)
            for label, length in self._windows
        }
        # Occupancy from cached closed minutes and quarters (processors/agents.py); `today`'s
        # panes from its cached closed quarters (processors/panes.py).
        occupied = runtime.occupancy.occupancies(list(firsts.values()), at)
        for (label, first), occupancy_now in zip(firsts.items(), occupied, strict=True):
            totals = panes.sum_since(first, at) if label == self._today else panes.sum(first, at)
            windows[label] = window_kpis(
                totals, settings.sl_variant, occupancy_now, settings.exits_against()
            )
        live = LiveKpis()
        live.calls_waiting, live.oldest_wait_seconds = calls_waiting(state, at)
        live.callbacks_pending = callbacks_pending(state, at)
        live.ivr_active = ivr_active(state, at)
        live.agents, live.agents_staffed = agents_by_state(state, at)
        tickets_now = backlog(state, at, runtime.ticket_index())
        ticket_gauges(state, at, settings, live, backlog_tickets=tickets_now)
        ticket_sla_gauges(tickets_now, at, settings, runtime.clock, live)
        staffing_kpis = windows.get(self.settings.staffing_window)
        inputs = self._staffing_inputs(state, settings, at, live.agents_staffed, staffing_kpis)
        figures = staffing_figures(inputs)
        figures.copy_staffing(live)
        return QueueSnapshot(queue=queue, at=float(at), live=live, windows=windows)

    def _staffing_inputs(
        self,
        state: QueueState,
        settings: QueueSettings,
        at: int,
        staffed: int,
        kpis: WindowKpis | None = None,
    ) -> StaffingInputs | None:
        length = self._staffing_window
        if kpis is None:
            kpis = self.window(state.queue, at, at - length + 1)
        # A queue that never reported an agent state has unknown staffing, not zero agents.
        return staffing_inputs(kpis, length, settings, staffed if state.agents else None)

    def staffing_inputs(self, queue: str, at: int) -> StaffingInputs | None:
        """Arrival rate, AHT, patience and staffed agents of ``queue`` over the staffing window
        ending at ``at`` (None when too thin)."""
        state = self.queues[queue]
        _, staffed = agents_by_state(state, at)
        return self._staffing_inputs(state, self.settings.for_queue(queue), at, staffed)

    def staffing(self, queue: str, at: int, agents: int | None = None) -> StaffingFigures:
        """Live staffing figures of ``queue`` at ``at``, predicted for ``agents`` agents (default:
        the agents staffed now): the what-if of ``ccpulse staffing --queue Q --agents N``."""
        return staffing_figures(self.staffing_inputs(queue, at), agents)

    def window(self, queue: str, at: int, first: int) -> WindowKpis:
        """KPIs over the seconds ``first..at`` (for ad-hoc windows, e.g. replay --window)."""
        runtime = self._queue(queue, create=False)
        return window_kpis(
            runtime.panes.sum(first, at),
            runtime.settings.sl_variant,
            occupancy(runtime.state, first, at),
            runtime.settings.exits_against(),
        )

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

    def span_counters(
        self, queue: str, bounds: Sequence[int]
    ) -> list[tuple[list[float], float, float]]:
        """Per consecutive span ``[bounds[i], bounds[i + 1])``: its summed counters and its
        agents' busy and available seconds (what :meth:`window` computes KPIs from)."""
        runtime = self._queue(queue, create=False)
        agent_cells = busy_available_cells(runtime.state, [float(b) for b in bounds])
        return [
            (runtime.panes.sum_coarse(first, end - 1), busy, available)
            for first, end, (busy, available) in zip(
                bounds[:-1], bounds[1:], agent_cells, strict=True
            )
        ]

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


def _call_handler(apply: CallHandler, drill: DrillHandler | None = None) -> Handler:
    def on_call(runtime: _Queue, event: Any, t: float, result: BatchResult) -> bool:
        applied = apply(runtime.state, runtime.panes, event, t, runtime.settings)
        if applied and drill is not None:
            drill(runtime.state, event, t, runtime.drill_length, runtime.settings.timezone)
        return applied

    return on_call


def _on_missed(runtime: _Queue, event: CallMissed, t: float, result: BatchResult) -> bool:
    # Informational for the queue's KPIs: an agent's missed call (processors/drilldown.py).
    on_call_event(runtime.state, event, t, runtime.drill_length, runtime.settings.timezone)
    return True


def _on_survey(runtime: _Queue, event: SurveyResponse, t: float, result: BatchResult) -> bool:
    return apply_survey(runtime.panes, event, t)


def _on_ticket(runtime: _Queue, event: TicketEvent, t: float, result: BatchResult) -> bool:
    state, panes = runtime.state, runtime.panes
    applied, forward = apply_ticket_event(state, panes, event, t)
    if forward is not None:
        result.forwarded.append(forward)
    if applied and isinstance(event, TicketCreated) and event.customer is not None:
        apply_contact(state, panes, event.customer, t, event.id, runtime.fcr_window)
    open_tickets = runtime.open_tickets
    if open_tickets is not None:
        ticket = state.tickets.get(event.ticket_id)
        if ticket is not None and in_backlog_after_all_changes(ticket):
            open_tickets.add(event.ticket_id)
        else:
            open_tickets.discard(event.ticket_id)
    return applied


def _conflict(event_id: str, first_time: float) -> str:
    first = datetime.fromtimestamp(first_time, UTC).isoformat()
    return f"id {event_id[:64]!r} was already applied with another event time ({first})"


def _forget_oldest(seen: dict[str, float], count: int) -> None:
    """Forget the ``count`` ids remembered first (engine.max_remembered_ids)."""
    for event_id in list(itertools.islice(seen, count)):
        del seen[event_id]


def _evict_seen(seen: dict[str, float], horizon: float) -> None:
    """Forget the ids of events older than ``horizon``: any copy of them would be late anyway.

    Ids are remembered in the order they were applied, so the old ones are at the front: the
    scan stops at the first id still needed. An older id applied after it (out of order, within
    the lateness) is forgotten by a later eviction; until then it only costs memory, since a
    copy of it is dropped as late before its id is looked up.
    """
    stale = []
    for event_id, t in seen.items():
        if t >= horizon:
            break
        stale.append(event_id)
    for event_id in stale:
        del seen[event_id]


def local_midnight(at: int, timezone: str) -> int:
    """The first whole second of the local calendar day containing ``at`` in ``timezone``.

    Midnight is computed from the local date, not as ``at - 86400``: on a daylight-saving day the
    local day is 23 or 25 hours long. Where a zone skips midnight itself, the day starts at the
    first instant that exists.
    """
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
