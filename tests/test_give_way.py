"""Background work on the event loop lets a timer that fell due during a slice run before its
next slice (streams/give_way.py); with ``asyncio.sleep(0)`` the next slices went first."""

from __future__ import annotations

import asyncio
import time

from streams.give_way import give_way


def test_a_timer_due_during_a_slice_runs_before_the_next_slice() -> None:
    async def run() -> list[str]:
        order: list[str] = []

        async def background() -> None:
            for index in range(3):
                order.append(f"slice {index}")
                time.sleep(0.003)  # a slice of work that holds the loop for 3 ms
                await give_way()

        async def woken_by_a_timer() -> None:
            await asyncio.sleep(0.001)  # due during the first slice
            order.append("timer")

        timer = asyncio.create_task(woken_by_a_timer())
        await asyncio.sleep(0)  # the timer is set before the background work starts
        await asyncio.gather(background(), timer)
        return order

    assert asyncio.run(run()) == ["slice 0", "timer", "slice 1", "slice 2"]
