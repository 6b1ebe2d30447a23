"""How work that runs long on the worker's event loop lets everything else go first.

Background work (the /metrics page prepared ahead of a scrape, the snapshots the alert timer
reads every second, the state snapshots written to the changelog) runs in slices of a few
milliseconds. Between two slices it awaits :func:`give_way`, not ``asyncio.sleep(0)``:

``sleep(0)`` puts the next slice at the head of the loop's next turn, ahead of the timers that
fell due meanwhile, and a task woken by a timer resumes only a turn after the timer fires. So
while a page was prepared, every wake-up of the loop-lag probe (and of any timer) waited
behind a slice and a batch for two or three turns in a row: 25-39 ms at a time for half a
second, at every scrape, though no single callback took more than 12 ms (measured on a
1,000-queue worker beside Apache Kafka 4.3.2 at 2,000 events/s, with a hook timing every
callback of its loop). A short timer instead lets the loop run what fell due, and the I/O
that arrived, before the next slice. The work takes a little longer in wall time, no more CPU.
"""

from __future__ import annotations

import asyncio

__all__ = ["GIVE_WAY_SECONDS", "give_way"]

GIVE_WAY_SECONDS = 0.0005
"""How long a slice of background work waits before the next: a timer, so that whatever fell
due before it (the probe, the other timers, the tasks they wake) runs first."""


async def give_way() -> None:
    """End a slice of background work: the loop runs what is due, then the next slice."""
    await asyncio.sleep(GIVE_WAY_SECONDS)
