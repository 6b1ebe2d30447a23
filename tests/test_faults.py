"""Three workers, crashes and restarts: the wallboard shows the numbers a fault-free run shows.

Real processes on 127.0.0.1: the session's embedded broker and three ``ccpulse worker``
processes in one consumer group. The simulator writes a known event set (fixed seed); the test
produces it at a steady pace, SIGKILLs one worker mid-stream (its uncommitted batches are
re-delivered to the next owner and must be skipped as already applied), later SIGTERMs a second
one, restarts the crashed one as an orchestrator would, and once the stream is drained compares
every KPI of every queue, each taken from the one worker that exports it, with ``ccpulse
replay`` (processors.engine over the same events). Throughout, a background watcher checks
that no queue is ever exported by two workers at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaConsumer

from tests.cluster import Background, Cluster, OwnershipWatch, produce_paced
from tests.test_health import log_fields
from tests.test_worker_integration import (
    metric_values,
    produce,
    setup_topics,
    simulate_jsonl,
    wait_for,
)
from tests.worker_proc import Broker, WorkerProcess

pytestmark = pytest.mark.integration

PARTITIONS = 4
STREAM_SECONDS = 12.0


def cluster_config(
    path: Path, prefix: str, snapshot_interval: float, alerts: dict[str, Any] | None = None
) -> Path:
    config: dict[str, Any] = {
        "topics": {
            "telephony": f"{prefix}.telephony",
            "ticketing": f"{prefix}.ticketing",
            "alerts": f"{prefix}.alerts",
            "deadletter": f"{prefix}.deadletter",
            "partitions": PARTITIONS,
        },
        "worker": {
            "snapshot_interval_seconds": snapshot_interval,
            "batch_within_seconds": 0.1,
            # A SIGKILLed worker's partitions move after 6 s, not Apache Kafka's default 30 s.
            "session_timeout_seconds": 6.0,
        },
    }
    if alerts is not None:
        config["alerts"] = alerts
    path.write_text(yaml.safe_dump(config))
    return path


# Fires on every queue that had a call in the last hour: with the simulated traffic, on all of them.
BUSY_QUEUE_ALERT = {
    "use_default_rules": False,
    "rules": [{"name": "queue_has_calls", "kpi": "entered", "window": "1h", "fire": 0, "clear": 0}],
}


def firing_transitions(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every transition into 'firing' published on the alerts topic so far."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=2000
    )
    try:
        records = [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()
    return [r for r in records if r.get("kind") == "transition" and r.get("state") == "firing"]


def firing_alerts(cluster: Cluster) -> list[tuple[str, str]]:
    """(rule, queue) of every ``ccpulse_alert_firing`` series of the live workers."""
    found = []
    for worker in cluster.alive():
        for labels, value in metric_values(worker, "ccpulse_alert_firing").items():
            if value == 1:
                found.append((dict(labels)["rule"], dict(labels)["queue"]))
    return sorted(found)


def known_events(directory: Path, seed: int, seconds: int) -> tuple[Path, list[bytes]]:
    """The simulator's events for the last ``seconds`` up to now, as a JSON-lines file."""
    now = datetime.now(UTC).replace(microsecond=0)
    path = directory / "events.jsonl"
    simulate_jsonl(path, datetime.fromtimestamp(now.timestamp() - seconds, UTC), seconds, seed)
    return path, path.read_bytes().splitlines()


def busiest(cluster: Cluster, exclude: set[int]) -> WorkerProcess:
    """The live worker (not in ``exclude``) exporting the most queues right now."""
    owners = cluster.owners()
    candidates = [w for w in cluster.alive() if w.port not in exclude]
    return max(candidates, key=lambda w: sum(w.port in ports for ports in owners.values()))


def kill_then_stop(
    cluster: Cluster,
) -> tuple[dict[str, WorkerProcess], Callable[[], None], Background]:
    """The victims (filled in as they fall), what SIGKILLs the busiest worker, and a background
    task that SIGTERMs the busiest of the others (a graceful stop takes a while)."""
    victims: dict[str, WorkerProcess] = {}

    def crash() -> None:
        victims["killed"] = busiest(cluster, set())
        victims["killed"].kill()

    def terminate() -> None:
        victims["stopped"] = busiest(cluster, {victims["killed"].port})
        victims["stopped"].stop()

    return victims, crash, Background(terminate)


@pytest.mark.parametrize("kill_at", [0.2, 0.5, 0.8], ids=["kill-early", "kill-mid", "kill-late"])
def test_sigkill_and_sigterm_mid_stream_give_the_replay_kpis(
    broker: Broker, tmp_path: Path, topic_prefix: str, kill_at: float
) -> None:
    config = cluster_config(tmp_path / "ccpulse.yaml", topic_prefix, snapshot_interval=3.0)
    topics = setup_topics(broker, config)
    events_file, lines = known_events(tmp_path, seed=31, seconds=3600)
    cluster = Cluster(broker, tmp_path, f"{topic_prefix}-app", config)
    cluster.start(3)
    victims, crash, sigterm = kill_then_stop(cluster)
    try:
        with OwnershipWatch(cluster) as watch:
            produce_paced(
                broker.bootstrap,
                topics,
                lines,
                STREAM_SECONDS,
                {
                    int(len(lines) * kill_at): crash,
                    int(len(lines) * min(kill_at + 0.15, 0.95)): sigterm,
                },
            )
            sigterm.join()
            assert victims["killed"].process.returncode == -9  # type: ignore[union-attr]
            assert victims["stopped"].process.returncode == 0  # type: ignore[union-attr]
            # The crashed worker comes back (as Kubernetes restarts a pod): three rebalances
            # in all, and the final answer comes from two workers.
            cluster.start(1)
            cluster.wait_drained(PARTITIONS, 90)
            last = cluster.wait_equal_to_replay(events_file, 60)
            assert last == [], "\n".join(last[:30]) + "\n" + cluster.logs()
        assert watch.rounds > 10
        assert watch.doubles == [], "\n".join(watch.doubles[:10]) + "\n" + cluster.logs()
        owners = cluster.owners()
        assert len(owners) == len({line.split(b'"queue":"')[1].split(b'"')[0] for line in lines})
        assert all(len(ports) == 1 for ports in owners.values()), owners
        stopped_log = victims["stopped"].log_path.read_text()
        assert log_fields(stopped_log, "graceful shutdown"), victims["stopped"].log_tail()
        skipped = sum(
            sum(metric_values(w, "ccpulse_events_duplicate_total").values())
            for w in cluster.alive()
        )
        print(f"kill at {kill_at:.0%}: {len(lines)} events, {skipped:.0f} re-deliveries skipped")
    finally:
        cluster.stop_all()


def test_full_restart_recovers_the_same_kpis_from_the_changelog(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    # Periodic snapshots an hour apart: what the restarted workers read back is whatever the
    # rebalances and the graceful shutdowns wrote (snapshots) plus the per-batch deltas.
    config = cluster_config(
        tmp_path / "ccpulse.yaml", topic_prefix, snapshot_interval=3600.0, alerts=BUSY_QUEUE_ALERT
    )
    topics = setup_topics(broker, config)
    alerts_topic = f"{topic_prefix}.alerts"
    events_file, lines = known_events(tmp_path, seed=47, seconds=3600)
    queues = {line.split(b'"queue":"')[1].split(b'"')[0].decode() for line in lines}
    expected_alerts = sorted(("queue_has_calls", q) for q in queues)
    cluster = Cluster(broker, tmp_path, f"{topic_prefix}-app", config)
    cluster.start(3)
    try:
        produce(broker, topics, lines)
        cluster.wait_drained(PARTITIONS, 90)
        assert cluster.wait_equal_to_replay(events_file, 60) == []
        wait_for(lambda: firing_alerts(cluster) == expected_alerts, 30, "one alert per queue")
        paged = firing_transitions(broker.bootstrap, alerts_topic)
        assert sorted((r["rule"], r["queue"]) for r in paged) == expected_alerts
        first = list(cluster.alive())
        cluster.stop_all()
        assert [w.process.returncode for w in first] == [0, 0, 0]  # type: ignore[union-attr]
        for worker in first:
            assert log_fields(worker.log_path.read_text(), "graceful shutdown"), worker.log_tail()

        second = cluster.start(3)
        cluster.wait_drained(PARTITIONS, 90)
        last = cluster.wait_equal_to_replay(events_file, 60)
        assert last == [], "\n".join(last[:30]) + "\n" + cluster.logs()
        # Recovered, not re-read: nothing was re-delivered (offsets were committed at
        # shutdown) and the state came from the changelog, each queue on exactly one worker.
        applied = sum(
            sum(metric_values(w, "ccpulse_events_total").values())
            + sum(metric_values(w, "ccpulse_events_duplicate_total").values())
            for w in second
        )
        assert applied == 0
        recovered: list[str] = []
        for worker in second:
            lines_of = log_fields(worker.log_path.read_text(), "table recovery finished")
            names = lines_of[-1]["queue_names"]
            recovered += [] if names == "-" else names.split(",")
        assert sorted(recovered) == sorted(queues)
        # The alert state came back with the queues: every alert is firing again on the new
        # owners, and not one new 'firing' transition was published (nobody is paged twice).
        wait_for(lambda: firing_alerts(cluster) == expected_alerts, 30, "the restored alerts")
        time.sleep(3)  # a few evaluation ticks (1 s each) on the restored state
        assert firing_alerts(cluster) == expected_alerts
        assert firing_transitions(broker.bootstrap, alerts_topic) == paged
    finally:
        cluster.stop_all()


def test_a_backlog_left_while_every_worker_was_down_is_all_applied(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    # Maintenance: every worker stops, events keep coming, one worker starts again and finds
    # a backlog on every partition and nothing after it. Faust clears its stream queues when
    # it resumes flow at the end of that rebalance, so records it had fetched by then are
    # never delivered; with no later record to show the hole, only the stalled-partition
    # reader (streams/worker/stalls.py) gets them applied and committed.
    config = cluster_config(tmp_path / "ccpulse.yaml", topic_prefix, snapshot_interval=30.0)
    topics = setup_topics(broker, config)
    events_file, lines = known_events(tmp_path, seed=53, seconds=3600)
    cluster = Cluster(broker, tmp_path, f"{topic_prefix}-app", config)
    try:
        cluster.start(1)
        produce(broker, topics, lines[: len(lines) // 2])
        cluster.wait_drained(PARTITIONS, 90)
        cluster.stop_all()
        produce(broker, topics, lines[len(lines) // 2 :])
        cluster.start(1)
        cluster.wait_drained(PARTITIONS, 90)
        last = cluster.wait_equal_to_replay(events_file, 60)
        assert last == [], "\n".join(last[:30]) + "\n" + cluster.logs()
        (worker,) = cluster.alive()
        text = worker.log_path.read_text()
        stalls = log_fields(text, "partition stalled")
        catch_ups = log_fields(text, "applied offsets not committed for a while")
        gaps = sum(metric_values(worker, "ccpulse_offset_gaps_total").values())
        print(
            f"backlog of {len(lines) - len(lines) // 2} events: {len(stalls)} stalled "
            f"partitions read, {len(catch_ups)} commits caught up, {gaps:.0f} gaps read"
        )
    finally:
        cluster.stop_all()
