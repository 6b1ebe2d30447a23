"""Shared fixtures: the real embedded broker (one per test session) and worker processes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from tests.servers import free_port

_ids = itertools.count(1)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real Kafka-protocol broker on a free port of 127.0.0.1 (never 9092: a demo may run)."""
    port = free_port()
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    embedded = EmbeddedBroker("127.0.0.1", port, log_path=log).start()
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture
def topic_prefix() -> str:
    """Unique topic names per test, so tests sharing the session broker never see each other."""
    return f"t{next(_ids)}"


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """test-output/<test name>: kept after the run for screenshots and logs."""
    path = Path(__file__).resolve().parents[1] / "test-output" / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path
