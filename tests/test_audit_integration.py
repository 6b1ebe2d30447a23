"""``ccpulse audit`` against a real worker on the real embedded broker.

The worker and the audit read the same topics: every field equal, exit 0. The same worker
audited against topics holding events it never saw: exit 1, naming the queue and the KPI.
Processes started on 127.0.0.1 and stopped by PID.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from processors.events import TicketMoved
from tests.servers import free_port
from tests.test_worker_integration import (
    produce,
    setup_topics,
    simulate_jsonl,
    wait_for,
    write_config,
)
from tests.worker_proc import ROOT, Broker, WorkerProcess

pytestmark = pytest.mark.integration


def run_audit(
    config: Path, bootstrap: str, *workers: str, as_json: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "streams.cli", "--config", str(config), "audit"]
    command += ["--bootstrap", bootstrap] + (["--json"] if as_json else [])
    for url in workers:
        command += ["--worker", url]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _call_entered(queue: str, event_id: str, when: datetime) -> bytes:
    return json.dumps(
        {
            "type": "call.entered",
            "id": event_id,
            "time": when.isoformat().replace("+00:00", "Z"),
            "queue": queue,
            "call_id": event_id,
        }
    ).encode()


def test_audit_passes_on_the_worker_s_own_topics_and_names_a_difference(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    events_file = tmp_path / "events.jsonl"
    events = simulate_jsonl(
        events_file, now - timedelta(minutes=40), 40 * 60, seed=28, flat_day=True
    )
    lines = events_file.read_bytes().splitlines()
    moves = sum(isinstance(event, TicketMoved) for event in events)
    assert moves >= 1  # forwarded by the worker: on the topic, and replayed from the move
    config = write_config(tmp_path / "ccpulse.yaml", topic_prefix)
    topics = setup_topics(broker, config)
    produce(broker, topics, lines)
    # What the worker dead-letters or re-keys, the audit must skip the same way.
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(topics["telephony"], key=b"billing", value=b"{not an event")
    stray = _call_entered("sales", "stray-1", now - timedelta(seconds=30))
    producer.send(topics["telephony"], key=b"billing", value=stray)  # keyed by another queue
    producer.flush()
    producer.close()

    worker = WorkerProcess(
        broker, free_port(), tmp_path, app_id=f"{topic_prefix}-app", config=config
    ).start()
    workers = [worker]
    try:
        last: dict[str, Any] = {}

        def audit_passes() -> bool:
            done = run_audit(config, broker.bootstrap, worker.url)
            last.update(code=done.returncode, out=done.stdout, err=done.stderr)
            return done.returncode == 0

        try:
            wait_for(audit_passes, 120, "ccpulse audit to exit 0")
        except AssertionError as exc:
            shown = f"{last.get('err')}\n{last.get('out', '')[:6000]}\n{worker.log_tail()}"
            raise AssertionError(f"{exc}\n{shown}") from None
        report = json.loads(last["out"])
        assert report["ok"] is True and report["differences"] == []
        assert report["records"]["invalid"] == 1
        # The stray event and the worker's re-keyed copy of it.
        assert report["records"]["misrouted"] == 1
        assert report["records"]["forwarded"] >= moves
        assert report["records"]["read"] == len(lines) + 2 + 1 + report["records"]["forwarded"]
        assert report["queues"] >= 4 and report["fields_compared"] > 4 * 100
        assert [w["url"] for w in report["workers"]] == [worker.url]

        # Topics holding two calls the worker never saw (a second config, same worker).
        other = write_config(tmp_path / "other.yaml", f"{topic_prefix}x")
        other_topics = setup_topics(broker, other)
        unseen = [
            _call_entered("billing", f"unseen-{i}", now - timedelta(seconds=30)) for i in (1, 2)
        ]
        produce(broker, other_topics, [*lines, stray, *unseen])  # the stray keyed right
        found = run_audit(other, broker.bootstrap, worker.url)
        assert found.returncode == 1, found.stderr
        differences = json.loads(found.stdout)["differences"]
        entered = [d for d in differences if d["kpi"] == "windows.1h.entered"]
        assert [(d["queue"], d["difference"]) for d in entered] == [("billing", -2)]
        assert {d["queue"] for d in differences} == {"billing"}

        text = run_audit(other, broker.bootstrap, worker.url, as_json=False)
        assert text.returncode == 1
        assert any(
            line.split()[:2] == ["billing", "windows.1h.entered"] and line.split()[-1] == "-2"
            for line in text.stdout.splitlines()
        ), text.stdout

        # A worker of another app id on the same topics: right on its own, but every queue is
        # then exported twice.
        second = WorkerProcess(
            broker, free_port(), tmp_path, app_id=f"{topic_prefix}-two", config=config
        ).start()
        workers.append(second)
        wait_for(
            lambda: run_audit(config, broker.bootstrap, second.url).returncode == 0,
            120,
            "the second worker to pass the audit on its own",
        )
        both = run_audit(config, broker.bootstrap, worker.url, second.url)
        assert both.returncode == 1, both.stderr
        doubled = json.loads(both.stdout)["differences"]
        assert {(d["queue"], d["status"]) for d in doubled} == {
            (queue, "exported by two workers") for queue in report["workers"][0]["queues"]
        }
        assert {d["worker"] for d in doubled} == {f"{worker.url}, {second.url}"}
    finally:
        for each in workers:
            each.stop()


def test_audit_exits_2_when_a_worker_or_a_topic_is_missing(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    config = write_config(tmp_path / "ccpulse.yaml", topic_prefix)
    missing = run_audit(config, broker.bootstrap, "http://127.0.0.1:9")
    assert missing.returncode == 2
    assert f"topic {topic_prefix}.telephony does not exist" in missing.stderr
    setup_topics(broker, config)
    port = free_port()
    silent = run_audit(config, broker.bootstrap, f"127.0.0.1:{port}")  # http:// implied
    assert silent.returncode == 2
    assert f"cannot read http://127.0.0.1:{port}/api/kpis" in silent.stderr
