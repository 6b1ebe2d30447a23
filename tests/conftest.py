"""Shared fixtures: the session's brokers (Apache Kafka, and the embedded one for a smoke subset)
and worker processes; the summary says how many tests ran on each broker."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker.embedded import EmbeddedBroker
from tests.kafka_broker import KafkaBroker, kafka_version
from tests.servers import free_port

_ids = itertools.count(1)

# Which broker each test runs on, from the fixture it asks for: ``broker`` is Apache Kafka,
# ``embedded_broker`` (or the marker, for a test that starts one itself) the embedded Tansu.
_RAN_ON: Counter[str] = Counter()


# CCPULSE_TEST_BROKER=embedded runs the suites of the ``broker`` fixture on the embedded broker
# instead (to compare the two: docs/deploy.md, "Which compensations Apache Kafka needs").
ON_EMBEDDED = os.environ.get("CCPULSE_TEST_BROKER") == "embedded"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker | EmbeddedBroker]:
    """Apache Kafka (deploy/kafka/pom.xml), one KRaft node on free ports of 127.0.0.1."""
    if ON_EMBEDDED:
        yield from _embedded("embedded-as-broker.log")
        return
    workdir = tmp_path_factory.mktemp("kafka")
    kafka = KafkaBroker(log_path=_broker_log("kafka.log"), workdir=workdir).start()
    try:
        yield kafka
    finally:
        kafka.stop()


@pytest.fixture(scope="session")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """The embedded Tansu broker of ``make demo``, for the smoke subset that keeps it working."""
    yield from _embedded("embedded.log")


def _embedded(log_name: str) -> Iterator[EmbeddedBroker]:
    """An embedded broker on a free port (never 9092: a demo may run), stopped by PID."""
    embedded = EmbeddedBroker("127.0.0.1", free_port(), log_path=_broker_log(log_name))
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


def _broker_log(name: str) -> Path:
    """test-output/brokers/<name>: kept after the run, like the workers' logs. Each of
    ``make test``'s pytest-xdist workers (gw0, gw1) runs brokers of its own, logged apart."""
    path = Path(__file__).resolve().parents[1] / "test-output" / "brokers"
    path.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return path / (f"{worker}-{name}" if worker else name)


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


_OWN_KAFKA = {"secure_kafka"}
"""Fixtures that start an Apache Kafka of their own."""
_OWN_KAFKA_MODULES = {"tests.test_broker_failure"}
"""Test modules that start an Apache Kafka cluster of their own inside the test."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The broker goes into each report's user properties: with pytest-xdist, the reports reach
    # the controlling process, which collected nothing.
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "embedded_broker" in names or item.get_closest_marker("embedded_broker"):
            item.user_properties.append(("broker", "embedded"))
        elif "broker" in names:
            item.user_properties.append(("broker", "embedded" if ON_EMBEDDED else "kafka"))
        elif _OWN_KAFKA & set(names) or item.module.__name__ in _OWN_KAFKA_MODULES:
            # A Kafka of its own (SASL_SSL, three nodes).
            item.user_properties.append(("broker", "kafka"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    broker = dict(report.user_properties).get("broker")
    if report.when == "call" and broker is not None:
        _RAN_ON[broker] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        f"brokers: {_RAN_ON['kafka']} tests ran on Apache Kafka {kafka_version()}, "
        f"{_RAN_ON['embedded']} on the embedded broker (Tansu)"
    )
