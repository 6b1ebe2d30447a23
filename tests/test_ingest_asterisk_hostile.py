"""``ccpulse ingest asterisk`` against hostile queue_log content, for real on the session broker:
a line over ``max_line_bytes`` (a 3 MB line of junk, longer than a read; a queue name of 100 kB)
is dead-lettered with its size and SHA-256 and reading goes on; a malformed line of 700 kB (its
dead-letter record used to be over the producer's limit) and an event Kafka refuses as too large
are dead-lettered with the reason instead of being retried forever. Every good line around them
reaches the topic, and the position is saved at the end of the file."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.ingest.position import load_position
from tests.ingest_helpers import IngestProcess, create_topics, read_topics, write_config
from tests.servers import free_port
from tests.test_ingest_asterisk import append, expected_ids
from tests.worker_proc import Broker

pytestmark = pytest.mark.integration

T0 = 1795341600
KEEP = 65_536


def good(first: int, count: int) -> list[str]:
    lines = [f"{T0}|NONE|billing|PJSIP/200|ADDMEMBER|"] if first == 0 else []
    for n in range(first, first + count):
        t = T0 + 10 * n + 5
        lines.append(f"{t}|c{n}.1|billing|NONE|ENTERQUEUE||0770{n:04d}|1")
        lines.append(f"{t + 3}|c{n}.1|billing|NONE|ABANDON|1|1|3")
    return lines


def kept_original(record: dict[str, Any]) -> bytes:
    if "original_text" in record:
        return str(record["original_text"]).encode()
    return base64.b64decode(record["original_base64"])


def run_follower(
    tmp_path: Path, prefix: str, broker: Broker, asterisk: dict[str, Any], lines: list[str]
) -> tuple[list[Any], dict[tuple[str, str], float], Path]:
    """Follow ``lines`` (good ones with ``good()``) until every good id and every dead letter
    is on the topics; the records, the dead-letter metrics and the queue_log."""
    config = tmp_path / "ccpulse.yaml"
    topics = write_config(config, prefix, {"asterisk": {"poll_interval_seconds": 0.05, **asterisk}})
    create_topics(broker, config)
    queue_log, state = tmp_path / "queue_log", tmp_path / "state.json"
    append(queue_log, lines)
    want = expected_ids([line for line in lines if len(line) < 1000], tmp_path / "good.log")
    dead_count = sum(1 for line in lines if len(line) >= 1000)
    port = free_port()
    args = ["asterisk", "--queue-log", str(queue_log), "--state-file", str(state)]
    args += ["--bootstrap", broker.bootstrap, "--metrics-port", str(port)]
    follower = IngestProcess(config, args, tmp_path / "follower.log").start()
    try:

        def complete(records: list[Any]) -> bool:
            ids = {r.get("id") for r in records}
            return want <= ids and sum("reason_code" in r for r in records) >= dead_count

        records = read_topics(
            broker.bootstrap, [topics["telephony"], topics["deadletter"]], complete
        )
        assert want <= {r.get("id") for r in records}, follower.log()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            position = load_position(state)
            if position is not None and position.offset == os.stat(queue_log).st_size:
                break
            time.sleep(0.1)
        assert position is not None and position.offset == os.stat(queue_log).st_size
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
            text = response.read().decode()
        assert follower.process is not None and follower.process.poll() is None
    finally:
        follower.stop()
    dead = {
        (s.labels["source"], s.labels["reason"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "ccpulse_ingest_deadlettered_total"
    }
    return records, dead, queue_log


def test_lines_over_the_limit_are_dead_lettered_and_reading_goes_on(
    tmp_path: Path, topic_prefix: str, broker: Broker
) -> None:
    junk = "\x01junk" * 600_000  # 3 MB: longer than one read of the file
    long_queue = f"{T0 + 1}|cx.1|{'q' * 100_000}|NONE|ENTERQUEUE||07700|1"
    lines = [*good(0, 5), junk, *good(5, 5), long_queue, *good(10, 5)]
    records, dead, _ = run_follower(tmp_path, topic_prefix, broker, {}, lines)

    letters = [r for r in records if "reason_code" in r]
    assert [r["reason_code"] for r in letters] == ["line_too_long", "line_too_long"]
    for letter, line in zip(letters, (junk, long_queue), strict=True):
        raw = line.encode()
        assert letter["original_size"] == len(raw)
        assert letter["original_sha256"] == hashlib.sha256(raw).hexdigest()
        assert letter["original_truncated"] is True
        assert kept_original(letter) == raw[:KEEP]
        assert "max_line_bytes" in letter["reason"]
        assert len(str(letter)) < 1_000_000
    assert [r["source"]["line"] for r in letters] == [12, 23]
    assert dead == {("asterisk", "line_too_long"): 2.0}


def test_records_kafka_refuses_are_dead_lettered_not_retried_forever(
    tmp_path: Path, topic_prefix: str, broker: Broker
) -> None:
    malformed = "not a queue_log line " + "z" * 700_000
    huge_queue = f"{T0 + 1}|cy.1|{'q' * 1_200_000}|NONE|ENTERQUEUE||07700|1"
    lines = [*good(0, 5), malformed, *good(5, 5), huge_queue, *good(10, 5)]
    limits = {"max_line_bytes": 4 * 1024 * 1024}
    records, dead, _ = run_follower(tmp_path, topic_prefix, broker, limits, lines)

    letters = {r["reason_code"]: r for r in records if "reason_code" in r}
    assert set(letters) == {"malformed", "too_large"}
    bad = letters["malformed"]
    assert (bad["original_size"], bad["original_truncated"]) == (len(malformed), True)
    assert kept_original(bad) == malformed.encode()[:KEEP]
    refused = letters["too_large"]
    assert refused["source"]["line"] == 23 and refused["source"]["refused"] is True
    assert refused["source"]["topic"].endswith(".telephony")
    assert "MessageSizeTooLarge" in refused["reason"]
    assert refused["original_size"] > 1_200_000 and refused["original_truncated"] is True
    assert dead == {("asterisk", "malformed"): 1.0, ("asterisk", "too_large"): 1.0}
