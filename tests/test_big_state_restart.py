"""A queue whose state is larger than a Kafka record survives restarts (issue 18, item 2).

A real worker on the session's broker: one help-desk queue with 12,000 open tickets (random
ids: about 1.2 MB of encoded state, over the producer's 1 MB record limit). Its periodic
snapshots, its snapshot at a graceful stop, and the recovery of a restarted worker (after a
SIGTERM, then after a SIGKILL) must all work, and the KPIs must equal ``ccpulse replay``.
Before snapshots were written in parts, the snapshot's send was refused and the worker died.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port
from tests.test_health import log_fields
from tests.test_worker_integration import produce, settle_to_replay, setup_topics, write_config
from tests.worker_proc import WorkerProcess

pytestmark = pytest.mark.integration

OPEN_TICKETS = 12_000


def open_tickets(path: Path) -> list[bytes]:
    """``OPEN_TICKETS`` ticket.created on queue "helpdesk" over the last hour, as JSON lines."""
    now = datetime.now(UTC).timestamp()
    lines = [
        json.dumps(
            {
                "type": "ticket.created",
                "id": uuid.uuid4().hex,
                "time": datetime.fromtimestamp(now - 3500 + i * 0.25, UTC).isoformat(),
                "queue": "helpdesk",
                "ticket_id": uuid.uuid4().hex,
                "customer": uuid.uuid4().hex,
            }
        ).encode()
        for i in range(OPEN_TICKETS)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def test_a_queue_state_over_the_record_limit_is_snapshotted_and_recovered(
    broker: Any, tmp_path: Path, topic_prefix: str
) -> None:
    config = write_config(tmp_path / "ccpulse.yaml", topic_prefix)
    topics = setup_topics(broker, config)
    events_file = tmp_path / "events.jsonl"
    produce(broker, topics, open_tickets(events_file))
    port = free_port()
    worker = WorkerProcess(broker, port, tmp_path, f"{topic_prefix}-app", config)
    worker.start()
    try:
        assert settle_to_replay(worker, events_file, 90) == []
        assert worker.kpis()["queues"]["helpdesk"]["live"]["backlog"] == OPEN_TICKETS
        assert worker.stop() == 0  # graceful: the whole state snapshotted, in parts
        text = worker.log_path.read_text()
        assert log_fields(text, "graceful shutdown"), worker.log_tail()
        assert not log_fields(text, "a changelog, dead-letter or forwarded record")

        worker.start()  # recovers from the parts
        recovered = log_fields(worker.log_path.read_text(), "table recovery finished")
        assert recovered[-1]["queue_names"] == "helpdesk", recovered
        assert recovered[-1]["snapshots"] == "1", recovered
        assert settle_to_replay(worker, events_file, 60) == []

        worker.kill()  # and once more after a crash
        worker.start()
        assert settle_to_replay(worker, events_file, 60) == []
    finally:
        worker.stop()
