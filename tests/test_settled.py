"""Nothing is applied while a rebalance is under way or before the table is recovered.

Against the real Faust app the worker builds (streams.app.build_app), through
:meth:`streams.worker.runtime.WorkerRuntime.settled`: the app's ``rebalancing`` flag,
which Faust raises at the start of a rebalance and lowers after the seek to the committed
offsets, and the runtime's ``ready``, set by the table's recovery callback.
"""

from __future__ import annotations

import asyncio

from streams.app import build_app
from streams.config import load_config


def test_the_batch_task_waits_for_the_recovery_and_the_end_of_the_rebalance() -> None:
    app, runtime = build_app(load_config(None))
    assert not runtime.ready and not runtime.settled()  # before the first recovery
    runtime.ready = True
    app.rebalancing = True  # recovered, but Faust has not sought the partitions yet
    assert not runtime.settled()

    async def scenario() -> bool:
        waiting = asyncio.ensure_future(runtime.until_settled())
        await asyncio.sleep(0.05)
        still_waiting = not waiting.done()
        app.on_rebalance_end()
        await asyncio.wait_for(waiting, 1)
        return still_waiting

    assert asyncio.run(scenario())
    assert runtime.settled()
