"""Creating ccpulse's topics (idempotently) with kafka-python's admin client."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from streams.config import TopicsConfig

__all__ = ["TopicSpec", "ensure_topics", "list_topics", "topic_specs"]


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1


def topic_specs(topics: TopicsConfig, partitions: int | None = None) -> list[TopicSpec]:
    """The four topics. Telephony and ticketing share a partition count: both are keyed by queue
    and one worker owns each queue's whole state. Alerts and dead letters are low-volume and
    need no parallelism; one partition keeps them in order."""
    count = partitions or topics.partitions
    rf = topics.replication_factor
    return [
        TopicSpec(topics.telephony, count, rf),
        TopicSpec(topics.ticketing, count, rf),
        TopicSpec(topics.alerts, 1, rf),
        TopicSpec(topics.deadletter, 1, rf),
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
                    [NewTopic(s.name, s.partitions, s.replication_factor) for s in missing]
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
