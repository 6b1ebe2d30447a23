"""The whole pipeline on the real embedded broker: simulator -> Kafka -> Faust worker -> KPIs.

Every test starts real processes on 127.0.0.1 (broker, worker) and stops them by PID.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from processors.events import TICKETING_TYPES, Event, TicketMoved
from processors.settings import EngineSettings
from streams.app import TABLE_NAME
from streams.broker.embedded import EmbeddedBroker
from streams.broker.topics import ensure_topics, topic_specs
from streams.offline.audit import differences, file_events, replay_document
from tests.kafka_broker import KafkaBroker
from tests.servers import free_port, require_binary
from tests.worker_proc import ROOT, Broker, WorkerProcess

pytestmark = pytest.mark.integration

DECODER = msgspec.json.Decoder(Event)


def write_config(path: Path, prefix: str) -> Path:
    config = {
        "topics": {
            "telephony": f"{prefix}.telephony",
            "ticketing": f"{prefix}.ticketing",
            "alerts": f"{prefix}.alerts",
            "deadletter": f"{prefix}.deadletter",
            "partitions": 4,
        },
        # A SIGKILLed worker's partitions move (and its restart joins) after 6 s of silence,
        # not after Apache Kafka's default session of 30 s.
        "worker": {
            "snapshot_interval_seconds": 2.0,
            "batch_within_seconds": 0.1,
            "session_timeout_seconds": 6.0,
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def setup_topics(broker: Broker, config_path: Path) -> dict[str, str]:
    from streams.config import load_config

    topics = load_config(config_path).topics
    ensure_topics(broker.bootstrap, topic_specs(topics))
    return {
        "telephony": topics.telephony,
        "ticketing": topics.ticketing,
        "deadletter": topics.deadletter,
    }


def simulate_jsonl(
    path: Path, start: datetime, seconds: int, seed: int, flat_day: bool = False
) -> list[Event]:
    """The simulator's events from ``start`` on, as a JSON-lines file; ``flat_day``: every hour
    at the daily peak (a test that needs some kind of event must not depend on the hour it
    runs at)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "simulate",
            "--output",
            "jsonl",
            "--file",
            str(path),
            "--start",
            start.isoformat(),
            "--duration",
            str(seconds),
            "--speed",
            "0",
            "--seed",
            str(seed),
            *(["--flat-day"] if flat_day else []),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return [DECODER.decode(line) for line in path.read_bytes().splitlines()]


def produce(broker: Broker, topics: dict[str, str], lines: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    for line in lines:
        event = DECODER.decode(line)
        topic = topics["ticketing"] if isinstance(event, TICKETING_TYPES) else topics["telephony"]
        producer.send(topic, key=event.queue.encode(), value=line)
    producer.flush()
    producer.close()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def metric_values(worker: WorkerProcess, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    values = {}
    for family in text_string_to_metric_families(worker.get("/metrics").decode()):
        for sample in family.samples:
            if sample.name == name:
                values[tuple(sorted(sample.labels.items()))] = sample.value
    return values


PIPELINE_COUNTERS = (
    "ccpulse_events_total",
    "ccpulse_events_redelivered_total",
    "ccpulse_offset_gaps_total",
    "ccpulse_events_duplicate_total",
    "ccpulse_events_late_total",
    "ccpulse_batches_total",
    "ccpulse_consumer_lag",
)


def pipeline_counters(worker: WorkerProcess) -> str:
    """What the worker consumed, dropped and skipped (for a failure message)."""
    lines = []
    for name in PIPELINE_COUNTERS:
        values = metric_values(worker, name)
        lines.append(f"{name}: {sum(values.values()):g} {dict(values) if values else ''}")
    return "\n".join(lines) + "\n"


def matches_replay(worker: WorkerProcess, events_file: Path, settings: EngineSettings) -> list[str]:
    document = worker.kpis()
    replayed = replay_document(
        file_events(events_file), int(document["at"]), ["5m", "15m", "1h", "today"], settings
    )
    return differences(document["queues"], replayed)


def settle_to_replay(worker: WorkerProcess, events_file: Path, timeout: float) -> list[str]:
    """Compare the worker with replay of ``events_file`` until they match or ``timeout`` is
    over; the last differences ([] once they match)."""
    deadline = time.monotonic() + timeout
    while True:
        last = matches_replay(worker, events_file, EngineSettings())
        if last == [] or time.monotonic() >= deadline:
            return last
        time.sleep(1)


def make_pipeline(broker: Broker, tmp_path: Path, topic_prefix: str) -> dict[str, Any]:
    config = write_config(tmp_path / "ccpulse.yaml", topic_prefix)
    return {"config": config, "topics": setup_topics(broker, config), "dir": tmp_path}


@pytest.fixture
def pipeline(broker: KafkaBroker, tmp_path: Path, topic_prefix: str) -> dict[str, Any]:
    return make_pipeline(broker, tmp_path, topic_prefix)


def test_simulated_events_give_the_replay_kpis_and_survive_a_kill(
    broker: KafkaBroker, pipeline: dict[str, Any], topic_prefix: str
) -> None:
    replay_kpis_across_a_kill(broker, pipeline, topic_prefix)
    # The state changelog (created before Faust starts, streams/commands/worker.py) is
    # compacted, as Faust makes it (what deployments rely on).
    changelog = f"{topic_prefix}-app-{TABLE_NAME}-changelog"
    assert topic_config(broker, changelog).get("cleanup.policy") == "compact"


def topic_config(broker: Broker, topic: str) -> dict[str, str]:
    """The topic's settings that differ from the broker's defaults, as the broker reports them."""
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    return {key: entry["value"] for key, entry in found["topic"][topic].items()}


def test_simulated_events_give_the_replay_kpis_and_survive_a_kill_on_the_embedded_broker(
    embedded_broker: EmbeddedBroker, tmp_path: Path, topic_prefix: str
) -> None:
    """The smoke test of the embedded broker (with `make demo`'s test): the worker started with
    ``--embedded-broker`` recovers its table after a SIGKILL there too."""
    pipeline = make_pipeline(embedded_broker, tmp_path, topic_prefix)
    replay_kpis_across_a_kill(embedded_broker, pipeline, topic_prefix)


def replay_kpis_across_a_kill(broker: Broker, pipeline: dict[str, Any], topic_prefix: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    start = datetime.fromtimestamp(now.timestamp() - 40 * 60, UTC)
    events_file = pipeline["dir"] / "events.jsonl"
    events = simulate_jsonl(events_file, start, 40 * 60, seed=11)
    lines = events_file.read_bytes().splitlines()
    assert len({e.queue for e in events}) >= 4
    half = len(lines) // 2
    produce(broker, pipeline["topics"], lines[:half])

    worker = WorkerProcess(
        broker,
        free_port(),
        pipeline["dir"],
        app_id=f"{topic_prefix}-app",
        config=pipeline["config"],
    ).start()
    try:
        moved = sum(isinstance(DECODER.decode(line), TicketMoved) for line in lines[:half])
        wait_for(
            lambda: sum(metric_values(worker, "ccpulse_events_total").values()) >= half + moved,
            90,
            "the first half to be applied",
        )
        first_half = pipeline["dir"] / "first-half.jsonl"
        first_half.write_bytes(b"\n".join(lines[:half]) + b"\n")
        problems = wait_for(
            lambda: matches_replay(worker, first_half, EngineSettings()) == [] or None,
            30,
            "the worker to match replay of the first half",
        )
        assert problems
        document = worker.kpis()
        assert sum(q["windows"]["1h"]["entered"] for q in document["queues"].values()) > 0
        # A crash: SIGKILL, nothing flushed, offsets maybe not committed.
        worker.kill()
    finally:
        worker.stop()

    produce(broker, pipeline["topics"], lines[half:])
    restarted = WorkerProcess(
        broker,
        free_port(),
        pipeline["dir"],
        app_id=f"{topic_prefix}-app",
        config=pipeline["config"],
    ).start()
    try:
        last = settle_to_replay(restarted, events_file, 90)
        assert last == [], (
            "\n".join(last[:30]) + "\n" + pipeline_counters(restarted) + restarted.log_tail()
        )
        late = metric_values(restarted, "ccpulse_events_late_total")
        assert sum(late.values()) == 0
    finally:
        restarted.stop()


def test_garbage_goes_to_the_dead_letter_topic_and_the_worker_keeps_serving(
    broker: KafkaBroker, pipeline: dict[str, Any], topic_prefix: str
) -> None:
    worker = WorkerProcess(
        broker,
        free_port(),
        pipeline["dir"],
        app_id=f"{topic_prefix}-app",
        config=pipeline["config"],
    ).start()
    try:
        topics = pipeline["topics"]
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        bad = [
            b"\x00\xffnot json at all",
            b'{"type": "call.entered", "id": "x1", "time": "2026-11-22T10:00:00", '
            b'"queue": "billing", "call_id": "c"}',
            b'{"type": "call.teleported", "id": "x2", "time": "2026-11-22T10:00:00Z", '
            b'"queue": "billing"}',
        ]
        for value in bad:
            producer.send(topics["telephony"], key=b"billing", value=value)
        good = json.dumps(
            {
                "type": "call.entered",
                "id": "ok-1",
                "time": datetime.now(UTC).isoformat(),
                "queue": "billing",
                "call_id": "c-ok",
            }
        ).encode()
        producer.send(topics["telephony"], key=b"billing", value=good)
        producer.flush()

        consumer = KafkaConsumer(
            topics["deadletter"],
            bootstrap_servers=broker.bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=1000,
        )
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while len(records) < 3 and time.monotonic() < deadline:
            records.extend(json.loads(m.value) for m in consumer)
        consumer.close()
        assert sorted(r["reason_code"] for r in records) == ["invalid", "not_json", "unknown_type"]
        by_code = {r["reason_code"]: r for r in records}
        assert "timezone" in by_code["invalid"]["reason"]
        import base64

        assert base64.b64decode(by_code["not_json"]["original_base64"]) == bad[0]
        assert {r["source"]["topic"] for r in records} == {topics["telephony"]}
        assert all(isinstance(r["source"]["offset"], int) for r in records)
        # The worker kept going: the good event after the garbage is counted and it still serves.
        wait_for(
            lambda: (
                worker.kpis()["queues"].get("billing", {}).get("live", {}).get("calls_waiting") == 1
            ),
            30,
            "the good event",
        )
        dead = metric_values(worker, "ccpulse_events_deadlettered_total")
        assert sum(dead.values()) == 3
        assert worker.get_json("/health")["status"] == "ok"
    finally:
        worker.stop()


def test_metrics_pass_promtool_check(
    broker: KafkaBroker, pipeline: dict[str, Any], topic_prefix: str
) -> None:
    promtool = require_binary("promtool", "prometheus")
    now = datetime.now(UTC).replace(microsecond=0)
    events_file = pipeline["dir"] / "events.jsonl"
    simulate_jsonl(events_file, datetime.fromtimestamp(now.timestamp() - 600, UTC), 600, seed=3)
    produce(broker, pipeline["topics"], events_file.read_bytes().splitlines())
    worker = WorkerProcess(
        broker,
        free_port(),
        pipeline["dir"],
        app_id=f"{topic_prefix}-app",
        config=pipeline["config"],
    ).start()
    try:
        wait_for(lambda: len(worker.kpis()["queues"]) >= 4, 60, "four queues")
        body = worker.get("/metrics")
        assert b"ccpulse_window_service_level{" in body
        # The values, not only the names: every service level a fraction, for queues this
        # worker reports, over the windows it keeps.
        levels = [
            sample
            for family in text_string_to_metric_families(body.decode())
            if family.name == "ccpulse_window_service_level"
            for sample in family.samples
        ]
        queues = set(worker.kpis()["queues"])
        assert levels and all(0.0 <= s.value <= 1.0 for s in levels)
        assert {s.labels["queue"] for s in levels} <= queues
        assert {s.labels["window"] for s in levels} <= {"5m", "15m", "1h", "today"}
        result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
        assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""
        # ?name[]= restricts the page to the families asked for, each complete.
        some = worker.get("/metrics?name[]=ccpulse_window_blocked&name[]=ccpulse_window_answered")
        families = set(re.findall(rb"^# TYPE (\S+) ", some, re.MULTILINE))
        assert families == {b"ccpulse_window_blocked", b"ccpulse_window_answered"}
        blocked = [
            line for line in body.splitlines() if line.startswith(b"ccpulse_window_blocked{")
        ]
        assert blocked and all(line in some.splitlines() for line in blocked)
    finally:
        worker.stop()
