"""The worker's start and stop without Faust's and mode's fixed one-second sleeps
(streams/faust_adapter/startup.py), checked against the real Faust objects; and the consumer
group session timeout (``worker.session_timeout_seconds``) that decides how long a crashed
worker's partitions wait."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import msgspec
import pytest
from faust.tables import TableManager
from faust.worker import Worker

from streams.app import build_app
from streams.config import ConfigError, load_config
from streams.faust_adapter import startup
from streams.faust_adapter.startup import PromptTableManager, PromptWorker


def test_the_app_s_tables_are_managed_by_the_prompt_table_manager() -> None:
    app, _runtime = build_app(load_config(None))
    assert isinstance(app.tables, PromptTableManager)
    assert "queue-state" in app.tables


def test_its_start_does_what_faust_s_does_without_the_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _runtime = build_app(load_config(None))
    manager = app.tables
    steps: list[Any] = []

    async def sleep(seconds: float) -> None:
        steps.append(("sleep", seconds))

    async def update_channels() -> None:
        steps.append("channels")

    async def start_recovery() -> None:
        steps.append("recovery")

    monkeypatch.setattr(manager, "sleep", sleep)
    monkeypatch.setattr(manager, "_update_channels", update_channels)
    monkeypatch.setattr(manager.recovery, "start", start_recovery)
    asyncio.run(manager.on_start())
    assert steps == ["channels", "recovery"]


def test_faust_s_table_manager_start_is_still_the_sleep_and_the_two_steps() -> None:
    # A Faust upgrade that adds a step to TableManager.on_start must not be dropped silently by
    # the override: this fails until PromptTableManager.on_start is brought in line.
    source = inspect.getsource(TableManager.on_start)
    awaited = [line.strip() for line in source.splitlines() if "await " in line]
    assert awaited == [
        "await self.sleep(1.0)",
        "await self._update_channels()",
        "await self.recovery.start()",
    ]


def test_the_worker_closes_its_loop_after_a_short_sentinel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # mode's shutdown still runs the sentinel, and ours waits a tenth of its second.
    assert "self._sentinel_task()" in inspect.getsource(Worker._shutdown_loop)
    assert issubclass(PromptWorker, Worker)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(startup.asyncio, "sleep", sleep)
    asyncio.run(PromptWorker._sentinel_task(object()))  # type: ignore[arg-type]
    assert slept == [startup.SENTINEL_SECONDS] and startup.SENTINEL_SECONDS < 1.0


def test_the_session_timeout_defaults_per_broker_and_reaches_faust(tmp_path: Path) -> None:
    worker = load_config(None).worker
    assert worker.consumer_session_timeout() == 30.0
    embedded = msgspec.structs.replace(worker, embedded_broker=True)
    assert embedded.consumer_session_timeout() == 6.0
    path = tmp_path / "ccpulse.yaml"
    path.write_text("worker:\n  session_timeout_seconds: 9\n")
    app, _runtime = build_app(load_config(path))
    assert app.conf.broker_session_timeout == 9.0
    assert app.conf.broker_heartbeat_interval == 1.5


def test_a_session_timeout_below_kafka_s_minimum_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ccpulse.yaml"
    path.write_text("worker:\n  app_id: x\n  session_timeout_seconds: 2\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "ccpulse.yaml:3: worker.session_timeout_seconds" in str(error.value)
