"""The engine's per-queue runtime: what it keeps beside one queue's state to apply and
report on it quickly, and the signature of the per-event-type handlers that work on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from processors.agents import WindowOccupancy
from processors.batch import BatchResult
from processors.calendars import BusinessClock
from processors.channels import ContactPanes
from processors.drilldown import DEFAULT_LENGTH
from processors.open_visits import OpenVisits
from processors.panes import PaneStore
from processors.settings import QueueSettings
from processors.state import QueueState
from processors.tickets import in_backlog_after_all_changes

__all__ = ["Handler", "QueueRuntime"]


class QueueRuntime:
    """What the engine keeps beside one queue's state to apply and report on it quickly: its
    pane store (and its contact counters by channel), its settings, its agents' occupancy per
    closed minute and quarter, and the ids of its tickets in the backlog once all their changes
    are in (None until first needed).
    Rebuilt whenever the queue's state object is replaced (a recovery, a test, a replay from a
    snapshot), so it can never describe another state."""

    __slots__ = (
        "agents_changed_from",
        "clock",
        "contacts",
        "drill_length",
        "fcr_window",
        "occupancy",
        "open_calls",
        "open_passes",
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
        self.contacts = ContactPanes(state, self.panes)
        """The same panes with the contact counters split by channel (processors/channels.py)."""
        self.occupancy = WindowOccupancy(state)
        self.settings = settings
        self.fcr_window = settings.fcr_window_hours * 3600.0
        self.open_tickets: set[str] | None = None
        self.open_calls = OpenVisits()
        """The calls that may still be waiting (processors/open_visits.py)."""
        self.open_passes = OpenVisits()
        """The calls that may still be in a self-service flow."""
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


Handler = Callable[[QueueRuntime, Any, float, BatchResult], bool]
