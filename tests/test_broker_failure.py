"""A broker dies, not just a worker: three KRaft nodes (replication 3, min ISR 2), three ccpulse
workers, a producer with ``acks=all``. Mid-stream the node leading the busiest source partition
is SIGKILLed, and restarted later with the same id and data directory.

Asserted: every queue's KPIs equal ``ccpulse replay`` of what was produced, and every record a
producer got an acknowledgement for is in its topic. Printed: the longest time a wallboard
(polling every live worker's /api/kpis every 100 ms) saw no KPI move while events were produced.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from processors.events import TICKETING_TYPES, Event
from tests.cluster import Cluster
from tests.kafka_cluster import KafkaCluster
from tests.test_faults import PARTITIONS, cluster_config, known_events
from tests.test_worker_integration import setup_topics

pytestmark = pytest.mark.integration

STREAM_SECONDS = 30.0
_DECODER = msgspec.json.Decoder(Event)


def write_config(path: Path, prefix: str) -> Path:
    """test_faults' three-worker configuration, with three replicas for every topic."""
    cluster_config(path, prefix, snapshot_interval=3.0)
    config = yaml.safe_load(path.read_text())
    config["topics"]["replication_factor"] = 3
    path.write_text(yaml.safe_dump(config))
    return path


class FreshnessWatch:
    """A wallboard: every 100 ms, each live worker's 'today' KPIs; the longest time nothing
    moved while ``producing`` is set."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.producing = threading.Event()
        self.longest = 0.0
        self.longest_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _signature(self) -> str:
        seen: dict[str, Any] = {}
        for worker in self.cluster.alive():
            try:
                for queue, kpis in worker.kpis()["queues"].items():
                    seen[queue] = kpis["windows"].get("today")
            except (OSError, ValueError):
                continue
        return json.dumps(seen, sort_keys=True)

    def _run(self) -> None:
        last, moved = "", time.monotonic()
        while not self._stop.is_set():
            now_sig, now = self._signature(), time.monotonic()
            if now_sig != last:
                last, moved = now_sig, now
            elif self.producing.is_set() and now - moved > self.longest:
                self.longest, self.longest_at = now - moved, time.time()
            self._stop.wait(0.1)

    def __enter__(self) -> FreshnessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def produce_acked(
    bootstrap: str, topics: dict[str, str], lines: list[bytes], seconds: float, actions: dict
) -> tuple[Counter[bytes], list[str]]:
    """Produce with ``acks=all`` at a steady pace; (values acknowledged, errors)."""
    acked: Counter[bytes] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        retries=2**31 - 1,
        request_timeout_ms=10000,
        max_in_flight_requests_per_connection=1,
    )

    def on_ack(value: bytes) -> Any:
        def record(_: Any) -> None:
            with lock:
                acked[value] += 1

        return record

    pause = seconds / len(lines)
    started = time.monotonic()
    try:
        for i, line in enumerate(lines):
            if i in actions:
                actions.pop(i)()
            event = _DECODER.decode(line)
            topic = (
                topics["ticketing"] if isinstance(event, TICKETING_TYPES) else topics["telephony"]
            )
            future = producer.send(topic, key=event.queue.encode(), value=line)
            future.add_callback(on_ack(line))
            future.add_errback(lambda e, ln=line: errors.append(f"{e}: {ln[:80]!r}"))
            delay = started + (i + 1) * pause - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        producer.flush()
    finally:
        producer.close()
    return acked, errors


def stored_values(bootstrap: str, topics: list[str]) -> Counter[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        found: Counter[bytes] = Counter()
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                found.update(r.value for r in records)
        return found
    finally:
        consumer.close()


def test_a_broker_killed_mid_stream_loses_nothing_and_keeps_the_kpis_exact(
    tmp_path: Path, topic_prefix: str
) -> None:
    log_dir = Path(__file__).resolve().parents[1] / "test-output" / "broker-failure"
    log_dir.mkdir(parents=True, exist_ok=True)
    kafka = KafkaCluster(tmp_path / "kafka", size=3, log_dir=log_dir).start()
    cluster: Cluster | None = None
    try:
        config = write_config(tmp_path / "ccpulse.yaml", topic_prefix)
        topics = setup_topics(kafka, config)
        source = [topics["telephony"], topics["ticketing"]]
        events_file, lines = known_events(tmp_path, seed=61, seconds=3600)
        cluster = Cluster(kafka, tmp_path, f"{topic_prefix}-app", config)
        cluster.start(3)
        busiest = Counter(
            (
                source[isinstance(_DECODER.decode(ln), TICKETING_TYPES)],
                hash_partition(_DECODER.decode(ln).queue.encode(), PARTITIONS),
            )
            for ln in lines
        ).most_common(1)[0][0]
        killed: dict[str, Any] = {}

        def kill() -> None:
            leader = kafka.leaders(source)[busiest]
            killed["node"] = kafka.node(leader)
            killed["at"] = time.time()
            killed["node"].kill()
            print(f"SIGKILL node {leader}, leader of {busiest[0]}[{busiest[1]}]")

        def restart() -> None:
            # Same node id, same data directory; the stream goes on while it starts.
            killed["restart"] = threading.Thread(target=killed["node"].start, daemon=True)
            killed["restart"].start()

        with FreshnessWatch(cluster) as watch:
            watch.producing.set()
            acked, errors = produce_acked(
                kafka.bootstrap,
                topics,
                lines,
                STREAM_SECONDS,
                {int(len(lines) * 0.3): kill, int(len(lines) * 0.6): restart},
            )
            watch.producing.clear()
        assert errors == [], errors[:5]
        # Every topic of the test and of the workers (Faust's changelog and leader topic
        # included) has three replicas: the kill can lose no partition's only copy.
        ours = {t: n for t, n in kafka.replication().items() if t.startswith(topic_prefix)}
        assert any(t.endswith("-changelog") for t in ours), ours
        assert all(n == {3} for n in ours.values()), ours
        killed["restart"].join(120)
        assert killed["node"].process.poll() is None, killed["node"].log_tail()
        stored = stored_values(kafka.bootstrap, source)
        lost = acked - stored
        assert sum(acked.values()) == len(lines)
        assert not lost, f"{sum(lost.values())} acknowledged records missing"
        cluster.wait_drained(PARTITIONS, 90)
        last = cluster.wait_equal_to_replay(events_file, 60)
        assert last == [], "\n".join(last[:30]) + "\n" + cluster.logs()
        print(
            f"{len(lines)} events acked, none lost; longest wallboard freshness gap "
            f"{watch.longest:.2f} s ({watch.longest_at - killed['at']:+.1f} s from the kill)"
        )
    finally:
        if cluster is not None:
            cluster.stop_all()
        kafka.stop()


def hash_partition(key: bytes, partitions: int) -> int:
    """The Java client's (and kafka-python's) default partitioner: murmur2 of the key."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions
