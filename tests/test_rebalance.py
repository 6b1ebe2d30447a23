"""Two workers in one consumer group: queues are split, never exported twice, and a worker
that leaves hands its queues over with their exact state (rebuilt from the changelog)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from processors.settings import EngineSettings
from streams.offline.audit import differences, file_events, replay_document
from tests.servers import free_port
from tests.test_worker_integration import produce, setup_topics, simulate_jsonl, write_config
from tests.worker_proc import Broker, WorkerProcess

pytestmark = pytest.mark.integration


def owned(worker: WorkerProcess) -> set[str]:
    return set(worker.kpis()["queues"])


def test_queues_move_between_workers_without_loss_or_double_export(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    config = write_config(tmp_path / "ccpulse.yaml", topic_prefix)
    topics = setup_topics(broker, config)
    now = datetime.now(UTC).replace(microsecond=0)
    events_file = tmp_path / "events.jsonl"
    simulate_jsonl(events_file, datetime.fromtimestamp(now.timestamp() - 1800, UTC), 1800, seed=21)
    lines = events_file.read_bytes().splitlines()
    third = len(lines) // 3
    app = f"{topic_prefix}-app"
    first = WorkerProcess(broker, free_port(), tmp_path, app_id=app, config=config).start()
    second: WorkerProcess | None = None
    try:
        produce(broker, topics, lines[:third])
        second = WorkerProcess(broker, free_port(), tmp_path, app_id=app, config=config)
        second.start()
        produce(broker, topics, lines[third : 2 * third])

        def split() -> Any:
            a, b = owned(first), owned(second)  # type: ignore[union-attr]
            return (a, b) if a and b and len(a | b) == 4 else None

        deadline = time.monotonic() + 90
        shares = None
        while time.monotonic() < deadline and shares is None:
            shares = split()
            time.sleep(0.5)
        assert shares is not None, "the two workers never split the four queues"
        assert not shares[0] & shares[1], f"exported by both workers: {shares[0] & shares[1]}"

        # The first worker leaves (graceful SIGTERM); the second takes everything over.
        first.stop()
        produce(broker, topics, lines[2 * third :])
        last: list[str] = ["not compared yet"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            document = second.kpis()
            if len(document["queues"]) == 4:
                replayed = replay_document(
                    file_events(events_file),
                    int(document["at"]),
                    ["5m", "15m", "1h", "today"],
                    EngineSettings(),
                )
                last = differences(document["queues"], replayed)
                if not last:
                    break
            time.sleep(1)
        assert last == [], "\n".join(last[:30]) + "\n" + second.log_tail()
    finally:
        first.stop()
        if second is not None:
            second.stop()
