"""The worker creates its state changelog topic before Faust starts (streams/commands/worker.py),
co-partitioned with the source topics and compacted as Faust would make it: a topic another
worker created a moment after this one read the cluster's metadata was left out of the
assignment ("Ignoring missing topic"), and a worker that took over queues recovered none of
their state."""

from __future__ import annotations

from pathlib import Path

import yaml

from streams.broker.topics import TopicSpec, changelog_topic, ensure_topics, list_topics
from streams.commands.worker import with_state_partitions
from streams.config import load_config
from tests.test_worker_integration import topic_config
from tests.worker_proc import Broker


def test_the_changelog_exists_before_faust_starts_with_the_source_topics_partitions(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    path = tmp_path / "ccpulse.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap": broker.bootstrap},
                "topics": {
                    "telephony": f"{topic_prefix}.telephony",
                    "ticketing": f"{topic_prefix}.ticketing",
                    "intervals": f"{topic_prefix}.intervals",
                    "partitions": 8,
                },
                "worker": {"app_id": f"{topic_prefix}-app"},
            }
        )
    )
    config = load_config(path)
    sources = [f"{topic_prefix}.telephony", f"{topic_prefix}.ticketing"]
    ensure_topics(broker.bootstrap, [TopicSpec(name, 3) for name in sources])
    changelog = changelog_topic(f"{topic_prefix}-app")
    assert changelog not in list_topics(broker.bootstrap)

    assert with_state_partitions(config).topics.partitions == 3
    assert list_topics(broker.bootstrap)[changelog] == 3
    assert topic_config(broker, changelog).get("cleanup.policy") == "compact"
    # The intervals topic, made in the same request, compacted too (streams/worker/intervals.py).
    assert topic_config(broker, f"{topic_prefix}.intervals").get("cleanup.policy") == "compact"
    # A second worker finds it there and leaves it as it is.
    assert with_state_partitions(config).topics.partitions == 3
    assert list_topics(broker.bootstrap)[changelog] == 3
