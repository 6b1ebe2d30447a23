"""A worker that starts and stops without the two fixed one-second sleeps of Faust and mode.

Faust's ``TableManager.on_start`` sleeps 1 s before it finalizes the tables and starts the
recovery: a grace period for tables declared late, by code that runs once the app has started.
ccpulse declares its one table in ``streams.app.build_app``, before the worker starts, so the
second only delays the first rebalance (and with it ``/ready``) on every start and restart.
mode's ``Worker._shutdown_loop`` runs a 1 s "sentinel" sleep on the stopped loop before closing
it, after the services stopped and every task was gathered or cancelled: a SIGTERM'd worker
exits a second later than it could. Measured on Apache Kafka (2 cores at load ~3), a worker
start to ``/ready`` took ~2.4 s and a stop ~1.5 s; both were a second shorter without them.

:class:`PromptTableManager` is passed as Faust's public ``TableManager`` setting; it keeps what
``on_start`` does, minus the sleep. :class:`PromptWorker` keeps a short sentinel (a few loop
iterations for the callbacks of closed transports and cancelled tasks) instead of a second.
"""

from __future__ import annotations

import asyncio

from faust.tables import TableManager
from faust.worker import Worker

__all__ = ["PromptTableManager", "PromptWorker"]

SENTINEL_SECONDS = 0.1
"""How long the stopped loop runs before it is closed (mode: 1.0 s)."""


class PromptTableManager(TableManager):  # type: ignore[misc]
    """Faust's table manager, starting its tables and recovery without the 1 s grace sleep."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class PromptWorker(Worker):  # type: ignore[misc]
    """Faust's worker, closing its event loop after :data:`SENTINEL_SECONDS`, not 1 s."""

    async def _sentinel_task(self) -> None:
        await asyncio.sleep(SENTINEL_SECONDS)
