"""``worker.fetch_max_wait_ms`` (streams/config.py) and the consumer subclass that applies it to
Faust's worker consumer only (streams/faust_adapter/consumer.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiokafka
import msgspec
import pytest

from streams.config import ConfigError, load_config
from streams.faust_adapter.consumer import FetchWaitConsumer, install_fetch_wait


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


def test_only_the_registered_group_gets_the_wait() -> None:
    install_fetch_wait("ccpulse-test-fetch-wait", 80)
    assert aiokafka.AIOKafkaConsumer is FetchWaitConsumer

    async def waits() -> tuple[int, int, int]:
        kwargs = {"bootstrap_servers": "127.0.0.1:1", "fetch_max_wait_ms": 1500}
        consumers = [
            aiokafka.AIOKafkaConsumer(group_id="ccpulse-test-fetch-wait", **kwargs),
            aiokafka.AIOKafkaConsumer(group_id="someone-else", **kwargs),
            aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1"),
        ]
        try:
            # aiokafka keeps the argument until start() builds its fetcher from it
            return tuple(c._fetch_max_wait_ms for c in consumers)  # type: ignore[return-value]
        finally:
            for consumer in consumers:
                await consumer.stop()

    assert asyncio.run(waits()) == (80, 1500, 500)
