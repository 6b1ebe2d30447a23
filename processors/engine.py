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
* **Batched.** :meth:`KpiEngine.apply` takes a whole batch and returns the set of queues it
  touched, so the caller persists each touched queue once per batch, not once per event.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from processors.agents import (
    OccupancyCache,
    agents_by_state,
    apply_agent_state,
    evict_agents,
    occupancy,
)
from processors.calls import CALL_TYPES, CallEvent, apply_call_event, calls_waiting, evict_calls
from processors.contacts import apply_contact, evict_contacts
from processors.events import (
    TICKETING_TYPES,
    AgentStateChanged,
    CallEntered,
    CallTransferred,
    Event,
    SurveyResponse,
    TicketCreated,
    TicketMovedIn,
)
from processors.formulas import window_kpis
from processors.panes import PaneStore
from processors.settings import EngineSettings, QueueSettings, parse_window
from processors.snapshot import LiveKpis, QueueSnapshot, WindowKpis
from processors.staffing import StaffingFigures, StaffingInputs, staffing_figures, staffing_inputs
from processors.state import QueueState, new_queue_state
from processors.tickets import (
    TicketEvent,
    apply_survey,
    apply_ticket_event,
    evict_tickets,
    ticket_gauges,
)

__all__ = ["BatchResult", "KpiEngine", "Position", "local_midnight"]

EVICT_EVERY_SECONDS = 60.0
CONTACT_EVICT_SECONDS = 900.0
_TICKETING = frozenset(TICKETING_TYPES)


@functools.lru_cache(maxsize=4096)
def _partition_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


@dataclass(frozen=True, slots=True)
class Position:
    """Where an event came from: used to skip what a previous run already applied."""

    topic: str
    partition: int
    offset: int

    @property
    def key(self) -> str:
        return _partition_key(self.topic, self.partition)


@dataclass(slots=True)
class BatchResult:
    touched: set[str] = field(default_factory=set)
    """Queues whose state changed (persist these once)."""
    forwarded: list[TicketMovedIn] = field(default_factory=list)
    """Events for other queues (a ticket moved away): produce them keyed by their queue."""
    applied: int = 0
    late: int = 0
    duplicates: int = 0


class KpiEngine:
    """Per-queue KPI state for the queues one worker (or one replay) owns."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.queues: dict[str, QueueState] = {}
        self._pane_stores: dict[str, PaneStore] = {}
        self._queue_settings: dict[str, QueueSettings] = {}
        self._occupancy = OccupancyCache()
        # One handler per event type: a dict look-up instead of a chain of isinstance checks.
        self._handlers: dict[type, Callable[[QueueState, Any, float, BatchResult], bool]] = {
            **{kind: self._on_call for kind in CALL_TYPES},
            AgentStateChanged: self._on_agent,
            CallTransferred: self._on_transfer,
            SurveyResponse: self._on_survey,
            **{kind: self._on_ticket for kind in TICKETING_TYPES if kind is not SurveyResponse},
        }
        windows = [length for _, length in self.settings.window_seconds()]
        rolling = [length for length in windows if length is not None]
        staffing_window = parse_window(self.settings.staffing_window)
        if staffing_window is None:
            raise ValueError("staffing_window must be a rolling window (e.g. 15m), not 'today'")
        self._staffing_window = staffing_window
        rolling.append(staffing_window)
        self._lateness = self.settings.allowed_lateness_seconds
        longest_rolling = max(rolling, default=0)
        longest = max([*rolling, 26 * 3600 if None in windows else 0])
        # Second panes are needed as far back as the longest rolling window's trailing edge;
        # minute and quarter panes as far back as the longest window of all (``today`` <= 25 h).
        self._retention = (
            longest_rolling + self._lateness + 60,
            longest + self._lateness + 900,
            longest + self._lateness + 900,
        )
        self._history = longest + self._lateness

    # -- applying -----------------------------------------------------------------------------

    def state(self, queue: str) -> QueueState:
        state = self.queues.get(queue)
        if state is None:
            state = self.queues[queue] = new_queue_state(queue)
        return state

    def apply(self, batch: Iterable[tuple[Event, Position | None]]) -> BatchResult:
        """Apply a batch of events in order. See the module docstring for the guarantees."""
        result = BatchResult()
        for event, position in batch:
            self._apply_one(event, position, result)
        for queue in result.touched:
            self._maybe_evict(self.queues[queue])
        return result

    def apply_all(self, events: Iterable[Event]) -> BatchResult:
        """Apply events without source positions (a replay), feeding each forwarded event (a
        ticket moved to another queue) back in right after the event that produced it, as the
        worker's forwarding topic would."""
        result = BatchResult()
        for event in events:
            self._apply_one(event, None, result)
            while result.forwarded:
                self._apply_one(result.forwarded.pop(0), None, result)
        for queue in result.touched:
            self._maybe_evict(self.queues[queue])
        return result

    def _apply_one(self, event: Event, position: Position | None, result: BatchResult) -> None:
        queue = event.queue
        state = self.queues.get(queue)
        if state is None:
            state = self.state(queue)
        if position is not None:
            key = position.key
            if position.offset <= state.offsets.get(key, -1):
                state.duplicates += 1
                result.duplicates += 1
                return
            state.offsets[key] = position.offset
            result.touched.add(queue)
        t = event.time.timestamp()
        family = "ticketing" if type(event) in _TICKETING else "telephony"
        watermark = state.watermarks.get(family)
        # A forwarded ticket.moved_in is a state transfer, not a measurement: it comes back
        # through Kafka after the new queue's own events and must never be dropped as late.
        if (
            watermark is not None
            and t < watermark - self._lateness
            and type(event) is not TicketMovedIn
        ):
            state.late += 1
            result.late += 1
            result.touched.add(queue)
            return
        seen = state.seen.get(family)
        if seen is None:
            seen = state.seen[family] = {}
        if event.id in seen:
            state.duplicates += 1
            result.duplicates += 1
            return
        seen[event.id] = t
        if watermark is None or t > watermark:
            state.watermarks[family] = t
        result.touched.add(queue)
        if self._dispatch(state, event, t, result):
            result.applied += 1
        else:
            state.ignored += 1

    def _panes(self, state: QueueState) -> PaneStore:
        """The queue's pane store, kept between events (it caches the current second)."""
        panes = self._pane_stores.get(state.queue)
        if panes is None or panes.levels is not state.panes:
            panes = self._pane_stores[state.queue] = PaneStore(state.panes)
        return panes

    def _settings(self, queue: str) -> QueueSettings:
        settings = self._queue_settings.get(queue)
        if settings is None:
            settings = self._queue_settings[queue] = self.settings.for_queue(queue)
        return settings

    def _dispatch(self, state: QueueState, event: Event, t: float, result: BatchResult) -> bool:
        handler = self._handlers[type(event)]
        return handler(state, event, t, result)

    def _on_call(self, state: QueueState, event: CallEvent, t: float, result: BatchResult) -> bool:
        settings = self._settings(state.queue)
        panes = self._panes(state)
        applied = apply_call_event(state, panes, event, t, settings)
        if applied and isinstance(event, CallEntered) and event.customer is not None:
            window = settings.fcr_window_hours * 3600.0
            apply_contact(state, panes, event.customer, t, event.id, window)
        return applied

    def _on_agent(
        self, state: QueueState, event: AgentStateChanged, t: float, result: BatchResult
    ) -> bool:
        self._occupancy.changed(state.queue, t)
        return apply_agent_state(state, event.agent, t, event.state)

    def _on_transfer(
        self, state: QueueState, event: CallTransferred, t: float, result: BatchResult
    ) -> bool:
        return True  # informational: a transfer is not an exit from the queue

    def _on_survey(
        self, state: QueueState, event: SurveyResponse, t: float, result: BatchResult
    ) -> bool:
        return apply_survey(self._panes(state), event, t)

    def _on_ticket(
        self, state: QueueState, event: TicketEvent, t: float, result: BatchResult
    ) -> bool:
        panes = self._panes(state)
        applied, forward = apply_ticket_event(state, panes, event, t)
        if forward is not None:
            result.forwarded.append(forward)
        if applied and isinstance(event, TicketCreated) and event.customer is not None:
            window = self._settings(state.queue).fcr_window_hours * 3600.0
            apply_contact(state, panes, event.customer, t, event.id, window)
        return applied

    def _maybe_evict(self, state: QueueState) -> None:
        if state.watermark is None or state.watermark - state.evicted_through < EVICT_EVERY_SECONDS:
            return
        self.evict(state)

    def evict(self, state: QueueState) -> None:
        """Forget what no window and no on-time event can need any more.

        Each family's facts are evicted against that family's own lateness horizon; what both
        families feed (panes, FCR contacts) against the older of the two.
        """
        if not state.watermarks:
            return
        horizons = {family: mark - self._lateness for family, mark in state.watermarks.items()}
        oldest = min(state.watermarks.values())
        self._panes(state).evict(
            (
                math.floor(oldest - self._retention[0]),
                math.floor(oldest - self._retention[1]),
                math.floor(oldest - self._retention[2]),
            )
        )
        for family, seen in state.seen.items():
            stale_ids = [event_id for event_id, t in seen.items() if t < horizons[family]]
            for event_id in stale_ids:
                del seen[event_id]
        if "telephony" in state.watermarks:
            phone = state.watermarks["telephony"]
            evict_calls(state, horizons["telephony"], phone - self.settings.max_open_call_seconds)
            evict_agents(state, phone - self._history)
        if "ticketing" in state.watermarks:
            retention = self.settings.closed_ticket_retention_hours * 3600.0
            evict_tickets(state, horizons["ticketing"], state.watermarks["ticketing"] - retention)
        through = max(state.watermarks.values())
        # Contacts are kept for the FCR window (a day): scanning every customer once a minute
        # dominated catch-up runs. Once per quarter hour of event time is enough, and keeping a
        # contact older than the window a little longer changes no repeat (docs/kpis.md).
        if math.floor(through / CONTACT_EVICT_SECONDS) != math.floor(
            state.evicted_through / CONTACT_EVICT_SECONDS
        ):
            max_fcr = self.settings.for_queue(state.queue).fcr_window_hours * 3600.0
            evict_contacts(state, min(horizons.values()) - max_fcr)
        state.evicted_through = through

    # -- reporting ----------------------------------------------------------------------------

    def snapshot(self, at: float, queues: Iterable[str] | None = None) -> dict[str, QueueSnapshot]:
        """KPIs of ``queues`` (default: all) at instant ``at``, truncated to the whole second."""
        second = math.floor(at)
        self._occupancy.retain(self.queues)
        names = sorted(self.queues) if queues is None else queues
        return {name: self.queue_snapshot(name, second) for name in names if name in self.queues}

    def queue_snapshot(self, queue: str, at: int) -> QueueSnapshot:
        state = self.queues[queue]
        settings = self.settings.for_queue(queue)
        panes = self._panes(state)
        windows: dict[str, WindowKpis] = {}
        for label, length in self.settings.window_seconds():
            first = local_midnight(at, settings.timezone) if length is None else at - length + 1
            windows[label] = window_kpis(
                panes.sum(first, at),
                settings.sl_variant,
                # `today` has a fixed start: its closed quarters are cached (processors/agents.py)
                self._occupancy.occupancy(state, first, at)
                if length is None
                else occupancy(state, first, at),
            )
        live = LiveKpis()
        live.calls_waiting, live.oldest_wait_seconds = calls_waiting(state, at)
        live.agents, live.agents_staffed = agents_by_state(state, at)
        ticket_gauges(state, at, settings, live)
        staffing_kpis = windows.get(self.settings.staffing_window)
        inputs = self._staffing_inputs(state, settings, at, live.agents_staffed, staffing_kpis)
        figures = staffing_figures(inputs)
        live.agents_required_erlang_c = figures.agents_required_erlang_c
        live.agents_required_erlang_a = figures.agents_required_erlang_a
        live.agents_short = figures.agents_short
        live.predicted_service_level = figures.predicted_service_level
        live.predicted_asa_seconds = figures.predicted_asa_seconds
        live.predicted_abandon_rate = figures.predicted_abandon_rate
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
        state = self.queues[queue]
        settings = self.settings.for_queue(queue)
        return window_kpis(
            self._panes(state).sum(first, at), settings.sl_variant, occupancy(state, first, at)
        )

    def owned(self) -> Iterator[str]:
        return iter(self.queues)


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
