"""Security as deployed: ``ccpulse topics``, ``worker``, ``simulate`` and ``ingest asterisk``
reach Apache Kafka over SASL_SSL with SCRAM-SHA-512 (a CA and a broker certificate made by the
test, a SCRAM user created when the storage is formatted), with nothing but the ``kafka``
section of the config; the worker's KPIs equal ``ccpulse replay`` of what both producers wrote.
A wrong password or a CA that did not sign the broker's certificate stops each command with
exit code 2 and a message naming the cause, after a single refused connection (the broker's
log counts them), not kafka-python's 30 s of retries nor aiokafka's bare "Unable to bootstrap".
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from kafka import KafkaConsumer, TopicPartition

from processors.settings import EngineSettings
from streams.broker.settings import kafka_python_kwargs
from streams.config import load_config
from streams.sources.asterisk import read_queue_log
from streams.sources.problems import ParseProblem
from tests.ingest_helpers import IngestProcess
from tests.kafka_sasl import SCRAM_MECHANISM, SaslSslKafka, make_ca
from tests.servers import free_port
from tests.test_worker_integration import matches_replay
from tests.worker_proc import ROOT, WorkerProcess

pytestmark = pytest.mark.integration

USER, PASSWORD = "ccpulse", "scram-test-secret"


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslSslKafka]:
    node = SaslSslKafka(tmp_path_factory.mktemp("kafka-sasl"), USER, PASSWORD).start()
    try:
        yield node
    finally:
        node.stop()


def write_config(path: Path, kafka: SaslSslKafka, prefix: str, **changes: str) -> Path:
    """A config whose only way to Kafka is its ``kafka`` section: SASL_SSL, SCRAM-SHA-512."""
    connection = {
        "bootstrap": kafka.sasl_bootstrap,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": SCRAM_MECHANISM,
        "username": USER,
        "password": PASSWORD,
        "ssl_cafile": str(kafka.certificates.ca),
        **changes,
    }
    kinds = ("telephony", "ticketing", "alerts", "silences", "intervals")
    topics = {kind: f"{prefix}.{kind}" for kind in kinds}
    config = {
        "kafka": connection,
        "topics": {**topics, "deadletter": f"{prefix}.deadletter", "partitions": 2},
        "worker": {"snapshot_interval_seconds": 2.0, "batch_within_seconds": 0.1},
        "sources": {"asterisk": {"poll_interval_seconds": 0.05}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def ccpulse(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ccpulse -c CONFIG ARGS`` to its end (the timeout only keeps a broken run finite)."""
    command = [sys.executable, "-m", "streams.cli", "-c", str(config), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def queue_log_lines(start: int) -> list[str]:
    """A few minutes of one Asterisk queue, ``secure`` (no simulated queue has that name)."""
    return [
        f"{start}|NONE|secure|PJSIP/900|ADDMEMBER|",
        f"{start + 5}|c1.1|secure|NONE|ENTERQUEUE||07700000001|1",
        f"{start + 20}|c1.1|secure|PJSIP/900|CONNECT|15|c1.2|2",
        f"{start + 30}|c2.1|secure|NONE|ENTERQUEUE||07700000002|1",
        f"{start + 70}|c2.1|secure|NONE|ABANDON|1|1|40",
        f"{start + 200}|c1.1|secure|PJSIP/900|COMPLETECALLER|15|180|1",
    ]


def read_events(
    config: Path, enough: Callable[[list[bytes]], bool], topics: tuple[str, ...] = ()
) -> list[bytes]:
    """The records of ``topics`` (default: telephony and ticketing), read over SASL_SSL, once
    ``enough(records)``. Each offset once: a record the consumer is handed again is not a
    second record."""
    loaded = load_config(config)
    consumer = KafkaConsumer(enable_auto_commit=False, **kafka_python_kwargs(loaded.kafka))
    partitions = [
        TopicPartition(topic, partition)
        for topic in topics or (loaded.topics.telephony, loaded.topics.ticketing)
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records: dict[tuple[str, int, int], bytes] = {}
    try:
        deadline = time.monotonic() + 90
        while not enough(list(records.values())) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                for message in batch:
                    records[message.topic, message.partition, message.offset] = message.value
    finally:
        consumer.close()
    return list(records.values())


def test_topics_worker_simulate_and_ingest_reach_kafka_over_sasl_ssl(
    secure_kafka: SaslSslKafka, tmp_path: Path, topic_prefix: str
) -> None:
    config = write_config(tmp_path / "ccpulse.yaml", secure_kafka, topic_prefix)
    topics = load_config(config).topics
    created = ccpulse(config, "topics", "create")
    assert created.returncode == 0, created.stderr
    names = [topics.telephony, topics.ticketing, topics.alerts, topics.deadletter]
    names += [topics.silences, topics.intervals]
    assert created.stdout.strip() == "created: " + ", ".join(names)
    listed = ccpulse(config, "topics", "list")
    assert f"{topics.telephony}\t2" in listed.stdout.splitlines(), listed.stderr

    now = int(time.time())
    start = datetime.fromtimestamp(now - 20 * 60, UTC).isoformat()
    window = ["--start", start, "--duration", "1200", "--speed", "0", "--seed", "5"]
    simulated = ccpulse(config, "simulate", "--output", "kafka", *window)
    assert simulated.returncode == 0, simulated.stderr
    # The same simulation as a file: what the Kafka run must have put on the topics.
    expected_file = tmp_path / "simulated.jsonl"
    ccpulse(config, "simulate", "--output", "jsonl", "--file", str(expected_file), *window)
    sent = {json.loads(line)["id"] for line in expected_file.read_bytes().splitlines()}
    assert len(sent) > 100

    queue_log = tmp_path / "queue_log"
    queue_log.write_text("".join(line + "\n" for line in queue_log_lines(now - 600)))
    ingested = {e.id for e in read_queue_log(str(queue_log)) if not isinstance(e, ParseProblem)}
    state = tmp_path / "queue_log.state.json"
    args = ["asterisk", "--queue-log", str(queue_log), "--state-file", str(state)]
    worker = WorkerProcess(
        secure_kafka.sasl_bootstrap,
        free_port(),
        tmp_path,
        app_id=f"{topic_prefix}-app",
        config=config,
        embedded_broker=False,
    )
    follower = IngestProcess(config, args, tmp_path / "ingest.log").start()
    try:
        worker.start()

        def ids(records: list[bytes]) -> set[str]:
            return {json.loads(record)["id"] for record in records}

        def everything(records: list[bytes]) -> bool:
            return sent | ingested <= ids(records)

        records = read_events(config, everything)
        assert sorted(sent - ids(records)) == [], "simulated events missing"
        assert sorted(ingested - ids(records)) == [], follower.log()
        # At least once: a producer's retry may write a record twice (same id); the worker and
        # replay both count an id once.
        print(f"{len(sent)} simulated, {len(ingested)} ingested, {len(records)} records")
        events_file = tmp_path / "events.jsonl"
        events_file.write_bytes(b"\n".join(records) + b"\n")

        deadline = time.monotonic() + 90
        while matches_replay(worker, events_file, EngineSettings()) and time.monotonic() < deadline:
            time.sleep(1)
        last = matches_replay(worker, events_file, EngineSettings())
        assert last == [], "\n".join(last[:30]) + "\n" + worker.log_tail()
        document = worker.kpis()
        assert document["queues"]["secure"]["windows"]["1h"]["answered"] == 1
        assert document["queues"]["billing"]["windows"]["1h"]["entered"] > 0
        # Closed 15-minute intervals go out through a producer of the worker's own
        # (streams/worker/interval_sender.py), over SASL_SSL as well. 20 minutes of events close
        # one at least: the first quarter boundary lies 300 s or more before the newest event
        # (the lateness is 120 s), and if its quarter holds under 180 s of them, the next
        # quarter closes too.
        intervals = read_events(config, bool, (topics.intervals,))
        assert intervals, "no interval record reached the intervals topic\n" + worker.log_tail()
        assert {json.loads(record)["queue"] for record in intervals} <= set(document["queues"]), (
            intervals[:3]
        )
    finally:
        worker.stop()
        follower_exit = follower.stop()
    assert follower_exit == 0, follower.log()  # SIGTERM: a clean stop


def failure_command(name: str, workdir: Path) -> list[str]:
    """Each command that connects, with what it needs to get as far as Kafka."""
    return {
        "topics": ["topics", "create"],
        "worker": ["worker", "--web-port", str(free_port()), "--data-dir", str(workdir)],
        "simulate": ["simulate", "--output", "kafka", "--events", "10", "--speed", "0"],
        "ingest": ["ingest", "asterisk", "--queue-log", str(workdir / "queue_log")],
    }[name]


def refused_logins(kafka: SaslSslKafka) -> int:
    """SASL logins the broker refused, from its log (a TLS handshake the client abandons
    because it does not trust the certificate is not logged there)."""
    log = kafka.log_path.read_text(errors="replace")
    return len(re.findall(r"Failed authentication with /.*invalid credentials", log))


@pytest.mark.parametrize("fault", ["wrong password", "untrusted certificate"])
@pytest.mark.parametrize("command", ["topics", "worker", "simulate", "ingest"])
def test_refused_access_stops_the_command_at_once_naming_the_cause(
    secure_kafka: SaslSslKafka, tmp_path: Path, topic_prefix: str, command: str, fault: str
) -> None:
    if fault == "wrong password":
        config = write_config(tmp_path / "c.yaml", secure_kafka, topic_prefix, password="wrong")
        cause = (
            f"ccpulse {command}: Kafka at {secure_kafka.sasl_bootstrap} refused the "
            f"{SCRAM_MECHANISM} login of user '{USER}': Authentication failed during "
            f"authentication due to invalid credentials with SASL mechanism {SCRAM_MECHANISM}. "
            "Check kafka.username and kafka.password."
        )
    else:
        other_ca, _ = make_ca(tmp_path / "other-ca", "some other CA")
        config = write_config(
            tmp_path / "c.yaml", secure_kafka, topic_prefix, ssl_cafile=str(other_ca)
        )
        cause = (
            f"ccpulse {command}: the certificate of Kafka at {secure_kafka.sasl_bootstrap} is "
            "not trusted: self-signed certificate in certificate chain (checked against "
            f"kafka.ssl_cafile {other_ca})"
        )
    before = refused_logins(secure_kafka)

    result = ccpulse(config, *failure_command(command, tmp_path))

    assert (result.returncode, result.stderr.strip().splitlines()[-1:]) == (2, [cause]), (
        result.stderr[-3000:]
    )
    # No client library got as far as its own connection attempts and retries.
    for symptom in ("Traceback", "Unable to bootstrap", "Bootstrap connection", "Unable connect"):
        assert symptom not in result.stderr
    if fault == "wrong password":
        # One login, refused: no retry loop. (The broker logs the refusal just after answering
        # it, so its line may come a moment after the command's exit.)
        deadline = time.monotonic() + 30
        while refused_logins(secure_kafka) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert refused_logins(secure_kafka) == before + 1, secure_kafka.log_tail()
