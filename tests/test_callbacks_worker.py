"""Callbacks, flow-outs, transfers, IVR and business-hours SLAs through the real pipeline: the
property tests' histories (which hold them, with every other kind of event) produced to Apache
Kafka, applied by a Faust worker (configured with the property tests' settings: calendars,
paused statuses, the callback and flow-out choices) killed half-way, equal ``ccpulse replay`` of
the same events once it has restarted from its changelog.

The histories are moved to end now (the worker's "now" is its wall clock), and delivered in the
property tests' shuffled order (never later than the allowed lateness).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from processors.events import (
    CallCallbackCompleted,
    CallCallbackRequested,
    CallTransferred,
)
from tests.kafka_broker import KafkaBroker
from tests.servers import free_port
from tests.test_kpi_properties import SETTINGS, arrival_order, history
from tests.test_worker_integration import (
    DECODER,
    matches_replay,
    pipeline_counters,
    produce,
    wait_for,
)
from tests.worker_proc import WorkerProcess

pytestmark = pytest.mark.integration


def shifted_history(seed: int) -> list[bytes]:
    """A property-test history with callbacks and transfers, ending a minute ago, in arrival
    order with a few duplicates, as JSON lines."""
    events = history(seed, calls=40, tickets=4, agents=2, surveys=2)
    newest = max(e.time for e in events)
    shift = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60) - newest
    moved = [msgspec.structs.replace(e, time=e.time + shift) for e in events]
    order = arrival_order(moved, random.Random(seed + 1), duplicates=5)
    return [msgspec.json.encode(e) for e in order]


def settle(worker: WorkerProcess, events_file: Path, timeout: float) -> list[str]:
    """The worker against replay (with :data:`SETTINGS`) until they match or ``timeout`` is
    over; the last differences ([] once they match)."""
    deadline = time.monotonic() + timeout
    while True:
        last = matches_replay(worker, events_file, SETTINGS)
        if last == [] or time.monotonic() >= deadline:
            return last
        time.sleep(1)


def test_callbacks_transfers_and_ivr_in_the_worker_equal_replay_across_a_kill(
    broker: KafkaBroker, tmp_path: Path, topic_prefix: str
) -> None:
    from tests.test_worker_integration import make_pipeline

    pipeline: dict[str, Any] = make_pipeline(broker, tmp_path, topic_prefix)
    # The property tests' engine settings (calendars, paused statuses, the callback and
    # flow-out choices, lateness) through the worker's configuration file.
    config = yaml.safe_load(pipeline["config"].read_text())
    config["engine"] = msgspec.to_builtins(SETTINGS)
    pipeline["config"].write_text(yaml.safe_dump(config))
    lines = shifted_history(seed=2212)
    kinds = [type(DECODER.decode(line)) for line in lines]
    assert CallCallbackRequested in kinds and CallCallbackCompleted in kinds
    assert any(
        isinstance(e, CallTransferred) and e.while_queued for e in map(DECODER.decode, lines)
    )
    events_file = pipeline["dir"] / "events.jsonl"
    events_file.write_bytes(b"\n".join(lines) + b"\n")
    half = len(lines) // 2
    produce(broker, pipeline["topics"], lines[:half])

    def start() -> WorkerProcess:
        return WorkerProcess(
            broker,
            free_port(),
            pipeline["dir"],
            app_id=f"{topic_prefix}-app",
            config=pipeline["config"],
        ).start()

    worker = start()
    try:
        first_half = pipeline["dir"] / "first-half.jsonl"
        first_half.write_bytes(b"\n".join(lines[:half]) + b"\n")
        wait_for(
            lambda: matches_replay(worker, first_half, SETTINGS) == [] or None,
            90,
            "the worker to match replay of the first half",
        )
        pending = sum(q["live"]["callbacks_pending"] for q in worker.kpis()["queues"].values())
        assert pending > 0  # the kill below lands while callbacks are open
        worker.kill()  # a crash: nothing flushed, offsets maybe not committed
    finally:
        worker.stop()

    produce(broker, pipeline["topics"], lines[half:])
    restarted = start()
    try:
        last = settle(restarted, events_file, 90)
        assert last == [], (
            "\n".join(last[:30]) + "\n" + pipeline_counters(restarted) + restarted.log_tail()
        )
        document = restarted.kpis()
        today = [q["windows"]["today"] for q in document["queues"].values()]
        assert sum(w["callbacks_requested"] for w in today) > 0
        assert sum(w["flow_outs"] for w in today) > 0
        assert sum(w["transfers"] for w in today) > 0
        assert sum(w["ivr_self_served"] + w["ivr_to_queue"] for w in today) > 0
    finally:
        restarted.stop()
