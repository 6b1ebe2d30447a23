"""First-contact resolution: repeat contacts from the same customer.

A *contact* is a call entering the queue or a ticket created in it, with a known customer. A
contact is a *repeat* when the same customer had another contact in the same queue within the
FCR window before it (ties at the same instant are broken by event id, so the answer does not
depend on arrival order). FCR over W = 1 - repeats / contacts, both counted at contact time.

When an earlier contact arrives late, the next contact of that customer may become a repeat:
the panes are corrected at that contact's time.
"""

from __future__ import annotations

import bisect
import math

from processors.counters import CounterIndex
from processors.panes import PaneStore
from processors.state import QueueState

__all__ = ["apply_contact", "evict_contacts"]


def apply_contact(
    state: QueueState, panes: PaneStore, customer: str, t: float, event_id: str, window: float
) -> None:
    entry = (t, event_id)
    history = state.contacts.get(customer)
    if history is None:
        lone = state.lone_contacts.get(customer)
        if lone is None:
            # Most customers have one contact in the window: kept as the bare pair, not a list
            # (1,000 queues hold hundreds of thousands of them, docs/performance.md).
            state.lone_contacts[customer] = entry
            panes.add(math.floor(t), CounterIndex.CONTACTS, 1)
            return
        if lone == entry:
            return
        del state.lone_contacts[customer]
        history = state.contacts[customer] = [lone]
    index = bisect.bisect_left(history, entry)
    if index < len(history) and history[index] == entry:
        return
    before = history[index - 1] if index else None
    after = history[index] if index < len(history) else None
    history.insert(index, entry)
    panes.add(math.floor(t), CounterIndex.CONTACTS, 1)
    if before is not None and t - before[0] <= window:
        panes.add(math.floor(t), CounterIndex.REPEAT_CONTACTS, 1)
    # `after` is a repeat now; it was one already only if its old predecessor was close.
    became_repeat = before is None or (after is not None and after[0] - before[0] > window)
    if after is not None and after[0] - t <= window and became_repeat:
        panes.add(math.floor(after[0]), CounterIndex.REPEAT_CONTACTS, 1)


def evict_contacts(state: QueueState, keep_from: float) -> None:
    """Forget contacts before ``keep_from`` (lateness horizon minus the FCR window): no contact
    that can still arrive on time is within the window of one of them. A customer left with
    one contact keeps it as a lone pair.

    Lone contacts are kept in the order they were first seen, so the old ones are at the front:
    the scan stops at the first one still needed (one seen out of order behind it is forgotten
    at a later eviction; until then it is only memory, since no on-time contact is within the
    window of it). Histories are trimmed only where their oldest contact is stale.
    """
    lone = state.lone_contacts
    stale: list[str] = []
    for customer, (t, _) in lone.items():
        if t >= keep_from:
            break
        stale.append(customer)
    for customer in stale:
        del lone[customer]
    shrunk: list[str] = []
    for customer, history in state.contacts.items():
        if history[0][0] >= keep_from and len(history) > 1:
            continue  # nothing to trim: the usual case, no search
        index = bisect.bisect_left(history, (keep_from, ""))
        if index:
            del history[:index]
        if len(history) <= 1:
            shrunk.append(customer)
    for customer in shrunk:
        history = state.contacts.pop(customer)
        if history:
            lone[customer] = history[0]
