"""streams/app.py ``_wait_for_seek`` on a real faust.App: it says in the log whether Faust's
seek came or the wait ran out, which is how docs/deploy.md counts that compensation
(tests/compensations.py)."""

from __future__ import annotations

import asyncio
import logging

import faust
import pytest

from streams import app as worker_app
from tests.compensations import MESSAGES


def wait(app: faust.App, rebalance_ends_after: float | None) -> None:
    async def run() -> None:
        if rebalance_ends_after is not None:
            asyncio.get_running_loop().call_later(
                rebalance_ends_after, setattr, app, "rebalancing", False
            )
        await worker_app._wait_for_seek(app, app.consumer_generation_id)

    asyncio.run(run())


def test_the_wait_logs_whether_the_seek_came_or_it_ran_out(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = faust.App("ccpulse-test-seek-wait", broker="kafka://127.0.0.1:1")
    monkeypatch.setattr(worker_app, "SEEK_WAIT_SECONDS", 0.2)
    caplog.set_level(logging.INFO, logger="ccpulse.worker")

    app.rebalancing = True
    wait(app, rebalance_ends_after=0.05)
    app.rebalancing = True
    wait(app, rebalance_ends_after=None)

    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert messages == [
        (logging.INFO, MESSAGES["seek waits"]),
        (logging.WARNING, MESSAGES["seek wait ran out"]),
    ]
