"""The state table's partition count follows the source topics (issue 26's first cause)."""

from __future__ import annotations

import pytest

from streams.broker.topics import TopicLayoutError, changelog_topic, state_partitions
from streams.config import TopicsConfig

TOPICS = TopicsConfig()


def test_the_source_topics_count_wins_over_the_configured_one() -> None:
    existing = {TOPICS.telephony: 6, TOPICS.ticketing: 6, "other": 3}
    assert TOPICS.partitions != 6
    assert state_partitions(TOPICS, "ccpulse", existing) == 6


def test_without_source_topics_the_configured_count_is_used() -> None:
    assert state_partitions(TOPICS, "ccpulse", {}) == TOPICS.partitions
    # One source topic only (the other is created by Faust later): its count.
    assert state_partitions(TOPICS, "ccpulse", {TOPICS.telephony: 4}) == 4


def test_source_topics_of_different_sizes_are_refused_by_name() -> None:
    with pytest.raises(TopicLayoutError) as error:
        state_partitions(TOPICS, "ccpulse", {TOPICS.telephony: 6, TOPICS.ticketing: 8})
    assert f"{TOPICS.telephony} has 6" in str(error.value)
    assert f"{TOPICS.ticketing} has 8" in str(error.value)


def test_a_changelog_of_another_size_is_refused_with_what_to_do() -> None:
    existing = {TOPICS.telephony: 6, TOPICS.ticketing: 6, changelog_topic("app"): 8}
    with pytest.raises(TopicLayoutError) as error:
        state_partitions(TOPICS, "app", existing)
    assert str(error.value).startswith("app-queue-state-changelog has 8 partitions")
    assert "delete app-queue-state-changelog" in str(error.value)
    # The same changelog under another app id is not this worker's.
    assert state_partitions(TOPICS, "other", existing) == 6
