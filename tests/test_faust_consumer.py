"""``worker.fetch_max_wait_ms`` (streams/config.py) and the consumer thread that applies it to
the worker app's Faust consumer only (streams/faust_adapter/consumer.py), on real Faust and
aiokafka objects."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiokafka
import msgspec
import pytest

from streams.config import ConfigError, load_config


def test_default_wait_is_fausts_on_kafka_and_short_on_the_embedded_broker(tmp_path: Path) -> None:
    worker = load_config(None).worker
    assert worker.fetch_max_wait_ms is None
    assert worker.consumer_fetch_wait_ms() == 1500
    embedded = msgspec.structs.replace(worker, embedded_broker=True)
    assert embedded.consumer_fetch_wait_ms() == 1500  # opt-in only (streams/config.py)
    path = tmp_path / "ccpulse.yaml"
    path.write_text("worker:\n  embedded_broker: true\n  fetch_max_wait_ms: 250\n")
    assert load_config(path).worker.consumer_fetch_wait_ms() == 250


def test_a_negative_wait_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ccpulse.yaml"
    path.write_text("worker:\n  fetch_max_wait_ms: -5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert ":2:" in str(info.value) and "worker.fetch_max_wait_ms" in str(info.value)


def test_only_the_worker_apps_consumer_gets_the_wait_and_no_library_class_changes() -> None:
    import faust
    from faust.transport.consumer import Consumer as FaustConsumer
    from faust.transport.drivers import aiokafka as faust_aiokafka

    from streams.app import build_app
    from streams.faust_adapter.consumer import BatchConsumer

    config = load_config(None)
    config = msgspec.structs.replace(
        config, worker=msgspec.structs.replace(config.worker, fetch_max_wait_ms=80)
    )
    worker, _ = build_app(config)
    other = faust.App("ccpulse-test-someone-else", broker="kafka://127.0.0.1:1")

    async def waits() -> tuple[int, int, int]:
        consumers = [
            # What each app's consumer thread builds at start (not started here).
            worker.consumer._thread._create_worker_consumer(worker.transport),
            other.consumer._thread._create_worker_consumer(other.transport),
            aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1"),
        ]
        try:
            # aiokafka keeps the argument until start() builds its fetcher from it
            return tuple(c._fetch_max_wait_ms for c in consumers)  # type: ignore[return-value]
        finally:
            for consumer in consumers:
                await consumer.stop()

    assert isinstance(worker.consumer, BatchConsumer)
    assert type(other.consumer) is faust_aiokafka.Consumer
    assert asyncio.run(waits()) == (80, 1500, 500)
    # Nothing of the libraries is replaced for the process: every other app keeps Faust's own.
    assert aiokafka.AIOKafkaConsumer.__module__.startswith("aiokafka")
    assert FaustConsumer._drain_messages.__module__ == "faust.transport.consumer"
    assert FaustConsumer._new_offset.__module__ == "faust.transport.consumer"
