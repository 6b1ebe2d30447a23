"""A table recovery that finishes for a former assignment rebuilds nothing (streams/worker/
recovery.py, ``Recovery.rebuild``), on the real Faust app the worker builds.

Faust calls the table's recovery callbacks before it checks whether the recovery's generation
is still the consumer's. Rebuilt then, a worker exported the queues of partitions the
rebalance under way was giving to another worker, and became ready in the middle of it.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
import pytest

from processors.events import Event
from streams.app import _outputs, build_app
from streams.broker.topics import changelog_topic
from streams.config import load_config
from streams.worker.checkpoint import Checkpoint
from streams.worker.recovery import Recovery, StateNotAssigned

ENTERED = msgspec.json.encode(
    {
        "type": "call.entered",
        "id": "e1",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5)),
        "queue": "sales",
        "call_id": "c1",
    }
)


def test_a_recovery_of_a_revoked_or_replaced_assignment_is_not_rebuilt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(None)
    app, runtime = build_app(config)
    source = runtime.source
    assert source is not None and runtime.store is not None
    topics = (config.topics.telephony, config.topics.ticketing)
    flushed: list[bool] = []

    async def flush() -> None:
        flushed.append(True)

    changelog = changelog_topic(config.worker.app_id)
    checkpoint = Checkpoint(runtime, source, _outputs(app, config, runtime))
    recovery = Recovery(checkpoint, topics, flush, changelog)
    caplog.set_level(logging.INFO, "ccpulse.worker")

    async def scenario() -> list[tuple[bool, list[str]]]:
        seen = []
        await recovery.revoked([(config.topics.telephony, 0)])
        assert flushed and not runtime.ready
        # 1. Revoked, the next assignment not here yet.
        runtime.engine.apply([(msgspec.json.decode(ENTERED, type=Event), None)])
        runtime.store.partition_of["sales"] = 2  # as a batch of a former assignment left it
        await recovery.rebuild()
        seen.append((runtime.ready, sorted(runtime.engine.queues)))
        # 2. The next assignment is here and its own recovery is asked for: this one is older.
        app.tables.recovery.signal_recovery_start.set()  # as Faust's Recovery.on_rebalance does
        recovery.assigned([(config.topics.telephony, 1), (changelog, 1)])
        await recovery.rebuild()
        seen.append((runtime.ready, sorted(runtime.engine.queues)))
        # 3. The recovery of the current assignment (no partition of it is assigned here):
        # rebuilt, and the queue of a partition not assigned is no longer exported.
        app.tables.recovery.signal_recovery_start.clear()
        await recovery.rebuild()
        seen.append((runtime.ready, sorted(runtime.engine.queues)))
        return seen

    assert asyncio.run(scenario()) == [(False, ["sales"]), (False, ["sales"]), (True, [])]
    skipped = [r for r in caplog.records if "former assignment" in r.getMessage()]
    fields = [(r.kv["awaiting_assignment"], r.kv["next_recovery_asked"]) for r in skipped]  # type: ignore[attr-defined]
    assert fields == [(True, False), (False, True)]
    finished = [r for r in caplog.records if r.getMessage() == "table recovery finished"]
    assert len(finished) == 1


def test_a_source_partition_without_its_changelog_partition_stops_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its queues would be rebuilt from nothing: the hook raises (Faust then crashes the app)
    and says which partitions, at CRITICAL; with their changelog partitions (standby ones of
    other partitions beside them) the same assignment passes."""
    config = load_config(None)
    app, runtime = build_app(config)
    assert runtime.source is not None
    changelog = changelog_topic(config.worker.app_id)
    telephony, ticketing = config.topics.telephony, config.topics.ticketing

    async def flush() -> None:
        return None

    checkpoint = Checkpoint(runtime, runtime.source, _outputs(app, config, runtime))
    recovery = Recovery(checkpoint, (telephony, ticketing), flush, changelog)
    caplog.set_level(logging.INFO, "ccpulse.worker")
    sources = [(telephony, 0), (ticketing, 0), (telephony, 3), (ticketing, 3)]
    recovery.assigned([*sources, (changelog, 0), (changelog, 3), (changelog, 5)])
    with pytest.raises(StateNotAssigned, match="source partitions 3 assigned without"):
        recovery.assigned([*sources, (changelog, 0)])
    with pytest.raises(StateNotAssigned, match="source partitions 0,3 assigned without"):
        recovery.assigned(sources)
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert [r.kv["partitions"] for r in critical] == ["3", "0,3"]  # type: ignore[attr-defined]


def test_the_worker_is_the_only_receiver_of_the_assignment_signal() -> None:
    """``Recovery.superseded_recovery`` relies on ``on_partitions_assigned`` running right after
    Faust asks for the next recovery: another receiver that awaits could let that recovery
    finish first, and the worker would wait for a rebuild that never comes."""
    app, _ = build_app(load_config(None))
    receivers = list(app.on_partitions_assigned.iter_receivers(app))
    assert len(receivers) == 1
