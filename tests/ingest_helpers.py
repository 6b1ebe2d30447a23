"""Helpers of the ingest integration tests: config files, topics, reading topics back, and the
``ccpulse ingest`` processes (started for real on 127.0.0.1, stopped by PID)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer

from streams.broker.topics import ensure_topics, topic_specs
from tests.worker_proc import ROOT, Broker


def write_config(path: Path, prefix: str, sources: dict[str, Any]) -> dict[str, str]:
    topics = {
        "telephony": f"{prefix}.telephony",
        "ticketing": f"{prefix}.ticketing",
        "alerts": f"{prefix}.alerts",
        "deadletter": f"{prefix}.deadletter",
    }
    path.write_text(yaml.safe_dump({"topics": {**topics, "partitions": 2}, "sources": sources}))
    return topics


def create_topics(broker: Broker, config_path: Path) -> None:
    from streams.config import load_config

    ensure_topics(broker.bootstrap, topic_specs(load_config(config_path).topics))


def read_topics(
    bootstrap: str,
    topics: list[str],
    enough: Callable[[list[Any]], bool],
    timeout: float = 60.0,
) -> list[Any]:
    """Every record of ``topics`` (values decoded as JSON) once ``enough(records)`` holds or the
    deadline passes; then a last second of polling, so extra (duplicate) records show too."""
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records.extend(json.loads(m.value) for m in consumer)
            if enough(records):
                records.extend(json.loads(m.value) for m in consumer)
                break
    finally:
        consumer.close()
    return records


class IngestProcess:
    """``python -m streams.cli -c CONFIG ingest ...`` as a child process."""

    def __init__(self, config: Path, args: list[str], log: Path) -> None:
        self.config, self.args, self.log_path = config, args, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> IngestProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "-c", str(self.config), "ingest", *self.args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log()
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{url} not up: {self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        return int(self.process.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]
