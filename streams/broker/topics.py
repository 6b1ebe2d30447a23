"""Creating ccpulse's topics (idempotently) with kafka-python's admin client."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from streams.config import TopicsConfig

__all__ = [
    "TABLE_NAME",
    "TopicLayoutError",
    "TopicSpec",
    "changelog_spec",
    "changelog_topic",
    "ensure_topics",
    "intervals_spec",
    "list_topics",
    "state_partitions",
    "topic_specs",
]

TABLE_NAME = "queue-state"
"""The worker's Faust table: each queue's KPI state, kept in its changelog topic."""


COMPACTED = (
    ("cleanup.policy", "compact"),
    ("min.compaction.lag.ms", "0"),
    ("segment.ms", "3600000"),
)
"""Topic settings of the silences topic: the latest record per key is kept for ever (a
tombstone removes it), so every worker rebuilds the cluster's silences from it at start."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    configs: tuple[tuple[str, str], ...] = ()
    """Topic-level settings, e.g. ``cleanup.policy=compact``."""


def intervals_spec(topics: TopicsConfig) -> TopicSpec:
    """``ccpulse.intervals``: one record per queue and closed interval, republished with the
    same key when a late event changes it, so compacted (never deleted by time: a warehouse
    sink may read it from the start). Low volume: one partition."""
    return TopicSpec(
        topics.intervals, 1, topics.replication_factor, (("cleanup.policy", "compact"),)
    )


def topic_specs(topics: TopicsConfig, partitions: int | None = None) -> list[TopicSpec]:
    """The six topics. Telephony and ticketing share a partition count: both are keyed by queue
    and one worker owns each queue's whole state. Alerts, dead letters, silences and intervals
    are low-volume and need no parallelism; one partition keeps them in order. Silences and
    intervals are compacted."""
    count = partitions or topics.partitions
    rf = topics.replication_factor
    return [
        TopicSpec(topics.telephony, count, rf),
        TopicSpec(topics.ticketing, count, rf),
        TopicSpec(topics.alerts, 1, rf),
        TopicSpec(topics.deadletter, 1, rf),
        TopicSpec(topics.silences, 1, rf, COMPACTED),
        intervals_spec(topics),
    ]


def ensure_topics(bootstrap: str, specs: list[TopicSpec], **client: Any) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **client)
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        # Created concurrently by another worker or demo: that is fine.
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [
                        NewTopic(
                            s.name,
                            s.partitions,
                            s.replication_factor,
                            topic_configs=dict(s.configs),
                        )
                        for s in missing
                    ]
                )
        return [spec.name for spec in missing]
    finally:
        admin.close()


def list_topics(bootstrap: str, **client: Any) -> dict[str, int]:
    """Topic name -> partition count."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **client)
    try:
        return {name: len(consumer.partitions_for_topic(name) or ()) for name in consumer.topics()}
    finally:
        consumer.close()


class TopicLayoutError(RuntimeError):
    """The topics in Kafka cannot hold exact per-queue state as they are laid out."""


def changelog_topic(app_id: str) -> str:
    """The state table's changelog topic, as Faust names it."""
    return f"{app_id}-{TABLE_NAME}-changelog"


def changelog_spec(topics: TopicsConfig, app_id: str, partitions: int) -> TopicSpec:
    """The state table's changelog topic as Faust would create it (a table's changelog is
    compacted: faust/tables/base.py, ``Collection._new_changelog_topic``), for the worker to
    create before Faust starts: see ``with_state_partitions`` in streams/commands/worker.py."""
    return TopicSpec(
        changelog_topic(app_id),
        partitions,
        topics.replication_factor,
        (("cleanup.policy", "compact"),),
    )


def state_partitions(topics: TopicsConfig, app_id: str, existing: dict[str, int]) -> int:
    """How many partitions the worker's state table must have, given the topics that exist
    (``existing``, name -> partitions, from :func:`list_topics`).

    Each queue's state is written to the changelog partition of the source partition its events
    come from, and Faust assigns a source partition and the changelog partition of the same
    number to one worker only when the topics have the same number of partitions. Otherwise a
    worker writes a queue's state to a changelog partition that another worker recovers, and a
    crash loses it (issue 26: source topics created with 6 partitions, workers left at the
    default ``topics.partitions`` of 8). So the source topics' own count wins over
    ``topics.partitions``, and layouts that cannot work are refused with what to do.
    """
    sources = {
        name: existing[name] for name in (topics.telephony, topics.ticketing) if existing.get(name)
    }
    if len(set(sources.values())) > 1:
        counts = " and ".join(f"{name} has {count}" for name, count in sorted(sources.items()))
        raise TopicLayoutError(
            f"{counts} partitions: both source topics are keyed by queue and must have the same "
            "number of partitions (recreate the smaller one, or add partitions to it)"
        )
    count = next(iter(sources.values()), topics.partitions)
    changelog = changelog_topic(app_id)
    if existing.get(changelog) and existing[changelog] != count:
        raise TopicLayoutError(
            f"{changelog} has {existing[changelog]} partitions and the source topics {count}: "
            "the state table must have as many partitions as the source topics. If partitions "
            "were added to the source topics, each queue's events now go to another partition: "
            f"stop every worker, delete {changelog} and start them again (the state is rebuilt "
            "from the source topics' retained events)"
        )
    return count
