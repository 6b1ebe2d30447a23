"""Contacts by channel: a queue's voice calls, chats, emails and messages counted apart.

Definitions (docs/kpis.md#channels): every contact event (``call.entered``, ``call.blocked``,
the exits, ``call.transferred``, ``call.ended``) names its channel (``voice`` when it names none)
and counts in it: an entry in the entry's channel, an exit (its wait against that channel's
service-level threshold) in the exit's, a handled call in its ``call.ended``'s. The queue's own
figures are the channel total: every contact still counts there, exactly as before channels.

Only the *contact counters* (:data:`CONTACT_COUNTERS`) are kept per channel. Agents are shared
across channels (occupancy is the queue's), and tickets, surveys, self-service, the callbacks
after their request and first-contact resolution belong to the queue, not to one channel.

**What it costs.** A queue that has only seen one channel keeps nothing apart: its figures are
that channel's, every add goes to one pane store, and it exports no channel series. When a
second channel first appears, the queue's panes are copied, contact counters only, into the
first channel's own store. That copy is exact, since every contact counted so far was of that
channel, and the same floats, added in the same order. From then on each contact add goes to
the total and to its channel's store. A channel's store keeps no minute panes (a dense vector
per minute and channel was most of a split queue's memory: ``make bench``), and its
second-level pairs are one chunk per quarter, not per minute (an array and its dict entry per
minute and channel were 11 MiB of 1,000 queues' state): its sums over whole minutes read the
pairs, over whole quarters its quarter panes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from processors.counters import CounterIndex
from processors.event_fields import DEFAULT_CHANNEL
from processors.panes import STRIDE, Pane, PaneStore, new_pane, quarter_chunks
from processors.state import QueueState

__all__ = [
    "CONTACT_COUNTERS",
    "ContactPanes",
    "contact_levels",
    "counted_channels",
    "first_channel",
]

CONTACT_COUNTERS: frozenset[int] = frozenset(
    {
        CounterIndex.ENTERED,
        CounterIndex.BLOCKED,
        CounterIndex.ANSWERED,
        CounterIndex.ABANDONED,
        CounterIndex.SHORT_ABANDONED,
        CounterIndex.OTHER_EXITS,
        CounterIndex.ANSWERED_WAIT_SUM,
        CounterIndex.ABANDONED_WAIT_SUM,
        CounterIndex.ANSWERED_WITHIN_T,
        CounterIndex.ABANDONED_WITHIN_T,
        CounterIndex.HANDLED,
        CounterIndex.HANDLE_TIME_SUM,
        CounterIndex.OTHER_EXITS_WAIT_SUM,
        CounterIndex.CALLBACKS_REQUESTED,
        CounterIndex.CALLBACK_REQUEST_WAIT_SUM,
        CounterIndex.FLOW_OUTS,
        CounterIndex.FLOW_OUT_WAIT_SUM,
        CounterIndex.TRANSFERS,
    }
)
"""The counters a contact event adds to, kept per channel (every per-channel KPI of the
registry, processors/kpis.py, is a formula over these only: tests/test_channels.py)."""

_CONTACT_MASK = [index in CONTACT_COUNTERS for index in range(STRIDE)]


def contact_levels(levels: list[dict[int, Pane]]) -> list[dict[int, Pane]]:
    """A copy of a queue's panes with only the contact counters (the others zero or left out),
    without minute panes and with one chunk per quarter (a channel's store:
    :class:`ContactPanes`): the first channel's store when the queue splits."""
    chunks, _, quarters = levels
    return [quarter_chunks(chunks, _CONTACT_MASK), {}, _dense_copy(quarters)]


def _dense_copy(panes: dict[int, Pane]) -> dict[int, Pane]:
    copied: dict[int, Pane] = {}
    for start, pane in panes.items():
        kept = new_pane()
        for index in CONTACT_COUNTERS:
            if index < len(pane):
                kept[index] = pane[index]
        copied[start] = kept
    return copied


def _has_contacts(levels: list[dict[int, Pane]]) -> bool:
    """Whether any retained minute holds a contact count (state written before channels)."""
    for pane in levels[1].values():
        for index in CONTACT_COUNTERS:
            if index < len(pane) and pane[index] != 0.0:
                return True
    return False


def first_channel(state: QueueState) -> str | None:
    """The channel a queue of one channel counts its contacts in: ``state.channel``, or voice
    for state written before channels existed that holds contacts (every contact then was a
    voice call); None while it has counted none. Read once per state: it scans the minutes
    only when ``state.channel`` is unset."""
    if state.channel is None and _has_contacts(state.panes):
        return DEFAULT_CHANNEL
    return state.channel


def counted_channels(state: QueueState) -> set[str]:
    """The channels ``state`` counts contacts in (what ``engine.max_channels`` bounds:
    processors/admission.py), by the rule :class:`ContactPanes` keeps them by."""
    if state.channel_panes:
        return set(state.channel_panes)
    channel = first_channel(state)
    return set() if channel is None else {channel}


class ContactPanes:
    """A queue's pane store (``total``) with its contact counters split by channel once it has
    seen two: what the telephony handlers (processors/calls.py, callbacks.py) add to."""

    __slots__ = ("channel", "split", "state", "stores", "total")

    def __init__(self, state: QueueState, total: PaneStore) -> None:
        self.state = state
        self.total = total
        """The queue's panes: every contribution, of every channel and every family."""
        self.stores: dict[str, PaneStore] = {
            channel: PaneStore(levels, minutes=False)
            for channel, levels in state.channel_panes.items()
        }
        """Per channel, its contact counters; empty while the queue has one channel."""
        state.channel = first_channel(state)
        # Kept here as well as in the state: read on every add, and an attribute of the
        # (compiled) ContactPanes is much cheaper to read than one of the msgspec state.
        self.channel: str | None = state.channel
        self.split = bool(self.stores)

    def add(self, channel: str, second: int, index: int, amount: float) -> None:
        """Add a contact counter of ``channel`` (to its store once split, and to the total)."""
        if self.split:
            store = self.stores.get(channel)
            if store is None:
                store = self._store(channel)
            store.add(second, index, amount)
        elif channel != self.channel:
            if self.channel is None:
                self.channel = self.state.channel = sys.intern(channel)
            else:
                self._split()
                self._store(channel).add(second, index, amount)
        self.total.add(second, index, amount)

    def _split(self) -> None:
        """A second channel: the first one's contacts so far are all the queue's."""
        first = self.state.channel
        assert first is not None
        levels = self.state.channel_panes[first] = contact_levels(self.state.panes)
        self.stores[first] = PaneStore(levels, minutes=False)
        self.split = True

    def _store(self, channel: str) -> PaneStore:
        channel = sys.intern(channel)
        levels: list[dict[int, Pane]] = [{}, {}, {}]
        self.state.channel_panes[channel] = levels
        store = self.stores[channel] = PaneStore(levels, minutes=False)
        return store

    def channels(self) -> Iterator[tuple[str, PaneStore]]:
        """Each channel and its store, by name (none while the queue has one channel)."""
        for channel in sorted(self.stores):
            yield channel, self.stores[channel]
