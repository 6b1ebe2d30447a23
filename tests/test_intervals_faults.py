"""No closed interval lost or counted twice across a SIGKILL and a SIGTERM (Apache Kafka).

The setup of tests/test_faults.py (three workers, the simulator's hour of events produced at a
steady pace, the busiest worker SIGKILLed mid-stream, another SIGTERMed, the first restarted);
then ``ccpulse.intervals`` is read from the start, the last record per key kept (what
compaction keeps), and compared with the records a replay of the same events gives
(streams/offline/report.py ``replay_intervals``): the same keys, each with the same KPIs.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from processors.settings import EngineSettings
from streams.cli import main
from streams.offline.audit import file_events
from streams.offline.report import read_intervals, replay_intervals
from tests.cluster import Cluster, produce_paced
from tests.test_faults import (
    PARTITIONS,
    STREAM_SECONDS,
    cluster_config,
    kill_then_stop,
    known_events,
)
from tests.test_worker_integration import setup_topics, wait_for
from tests.worker_proc import Broker

pytestmark = pytest.mark.integration


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


def interval_differences(published: dict[bytes, bytes], expected: dict[bytes, bytes]) -> list[str]:
    problems = [f"missing {key!r}" for key in sorted(set(expected) - set(published))]
    problems += [f"not in the replay {key!r}" for key in sorted(set(published) - set(expected))]
    for key in sorted(set(published) & set(expected)):
        got, want = json.loads(published[key])["kpis"], json.loads(expected[key])["kpis"]
        problems += [
            f"{key!r} {name}: published {got[name]!r} != replay {value!r}"
            for name, value in want.items()
            if not _same(got[name], value)
        ]
    return problems


def test_sigkill_mid_stream_loses_no_interval_and_counts_none_twice(
    broker: Broker, tmp_path: Path, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cluster_config(tmp_path / "ccpulse.yaml", topic_prefix, snapshot_interval=3.0)
    document = yaml.safe_load(config.read_text())
    document["topics"]["intervals"] = f"{topic_prefix}.intervals"
    config.write_text(yaml.safe_dump(document))
    topics = setup_topics(broker, config)
    events_file, lines = known_events(tmp_path, seed=31, seconds=3600)
    expected = replay_intervals(file_events(events_file), EngineSettings())
    assert len(expected) > 8  # an hour of traffic: four quarters for each of several queues
    cluster = Cluster(broker, tmp_path, f"{topic_prefix}-app", config)
    cluster.start(3)
    victims, crash, sigterm = kill_then_stop(cluster)
    client = {"bootstrap_servers": broker.bootstrap}
    try:
        produce_paced(
            broker.bootstrap,
            topics,
            lines,
            STREAM_SECONDS,
            {int(len(lines) * 0.5): crash, int(len(lines) * 0.65): sigterm},
        )
        sigterm.join()
        assert victims["killed"].process.returncode == -9  # type: ignore[union-attr]
        cluster.start(1)
        cluster.wait_drained(PARTITIONS, 90)
        last = cluster.wait_equal_to_replay(events_file, 60)
        assert last == [], "\n".join(last[:30]) + "\n" + cluster.logs()
        topic = f"{topic_prefix}.intervals"
        found: list[str] = ["not read yet"]

        def same_as_replay() -> bool:
            found[:] = interval_differences(read_intervals(topic, client), expected)
            return not found

        wait_for(same_as_replay, 30, "the replay's interval records")
        # ccpulse report: from the topic, and recomputed from the source topics' events.
        now = datetime.now(UTC)
        span = ["--from", (now - timedelta(hours=2)).isoformat(), "--to", now.isoformat()]
        common = ["--config", str(config), "report", *span, "--format", "json"]
        reports = []
        for source in ([], ["--from-events"]):
            assert main([*common, "--bootstrap", broker.bootstrap, *source]) == 0
            reports.append(json.loads(capsys.readouterr().out))
        assert len(reports[0]) == len(expected)
        assert reports[0] == reports[1]
        # Every record sent, republished ones included (same key, same value after a crash).
        sent = Counter(key for key in _all_keys(topic, client))
        print(
            f"{len(expected)} intervals, {sum(sent.values())} records sent, "
            f"{sum(1 for n in sent.values() if n > 1)} keys sent more than once"
        )
    finally:
        cluster.stop_all()
    assert not found, "\n".join(found[:30])


def _all_keys(topic: str, client: dict[str, object]) -> list[bytes]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic, auto_offset_reset="earliest", consumer_timeout_ms=2000, **client
    )
    try:
        return [message.key for message in consumer]
    finally:
        consumer.close()
