"""``ccpulse ingest asterisk`` for real on the session broker: a queue_log appended to, rotated
(renamed) and truncated while the follower runs, with the follower killed in the middle and
restarted across a rotation. Every line reaches the topic (duplicates allowed, each id at least
once and nothing else), and the KPIs of what was produced equal ``ccpulse replay`` of the whole
log."""

from __future__ import annotations

import json
import os
import random
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from processors.events import Event
from processors.settings import EngineSettings
from streams.cli import main
from streams.ingest.position import load_position
from streams.offline.replay import replay_events, replay_settings
from streams.sources.asterisk import read_queue_log
from streams.sources.problems import ParseProblem
from tests.ingest_helpers import IngestProcess, create_topics, read_topics, write_config
from tests.servers import free_port
from tests.worker_proc import Broker

pytestmark = pytest.mark.integration

T0 = 1795341600  # 2026-11-22T10:00:00Z
DECODER = msgspec.json.Decoder(Event)


def scenario(seed: int = 7) -> list[str]:
    """About 50 minutes of two queues: agents joining and pausing, calls answered, abandoned,
    transferred, blocked; in time order, every line distinct."""
    rng = random.Random(seed)
    lines: list[tuple[int, str]] = []
    for queue, agents in (("billing", ["PJSIP/200", "PJSIP/201"]), ("sales", ["PJSIP/300"])):
        for agent in agents:
            lines.append((T0, f"{T0}|NONE|{queue}|{agent}|ADDMEMBER|"))
        t = T0 + 5
        for number in range(90):
            call = f"{queue[:1]}{number}.{rng.randint(1, 9)}"
            t += rng.randint(5, 40)
            agent = rng.choice(agents)
            roll = rng.random()
            if roll < 0.05:
                lines.append((t, f"{t}|{call}|{queue}|NONE|FULL|"))
                continue
            lines.append((t, f"{t}|{call}|{queue}|NONE|ENTERQUEUE||0770{number:04d}|1"))
            wait = rng.randint(1, 60)
            if roll < 0.3:
                lines.append((t + wait, f"{t + wait}|{call}|{queue}|NONE|ABANDON|1|1|{wait}"))
                continue
            lines.append((t + wait, f"{t + wait}|{call}|{queue}|{agent}|CONNECT|{wait}|{call}2|2"))
            talk = rng.randint(20, 300)
            end = t + wait + talk
            if roll < 0.4:
                lines.append(
                    (end, f"{end}|{call}|{queue}|{agent}|BLINDTRANSFER|600|ctx|{wait}|{talk}|1")
                )
            else:
                lines.append((end, f"{end}|{call}|{queue}|{agent}|COMPLETECALLER|{wait}|{talk}|1"))
            if rng.random() < 0.1:
                lines.append((end + 1, f"{end + 1}|NONE|{queue}|{agent}|PAUSE|break"))
                lines.append((end + 90, f"{end + 90}|NONE|{queue}|{agent}|UNPAUSE|"))
    lines.sort(key=lambda item: item[0])
    text = [line for _, line in lines]
    text.insert(len(text) // 3, "this line is not a queue_log line")
    return text


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a") as handle:
        handle.writelines(line + "\n" for line in lines)


def expected_ids(lines: list[str], scratch: Path) -> set[str]:
    scratch.write_text("".join(line + "\n" for line in lines))
    return {item.id for item in read_queue_log(str(scratch)) if not isinstance(item, ParseProblem)}


def test_follower_loses_nothing_across_rotation_truncation_and_a_crash(
    tmp_path: Path, topic_prefix: str, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "ccpulse.yaml"
    topics = write_config(
        config,
        topic_prefix,
        {"asterisk": {"poll_interval_seconds": 0.05, "batch_max_lines": 40}},
    )
    create_topics(broker, config)
    log_dir = tmp_path / "asterisk"
    log_dir.mkdir()
    queue_log = log_dir / "queue_log"
    state = tmp_path / "state" / "queue_log.state.json"
    args = ["asterisk", "--queue-log", str(queue_log), "--state-file", str(state)]
    args += ["--bootstrap", broker.bootstrap]
    lines = scenario()
    chunks = [lines[i : i + len(lines) // 8] for i in range(0, len(lines), len(lines) // 8)]
    written: list[str] = []
    topic_names = [topics["telephony"], topics["deadletter"]]

    def caught_up() -> list[Any]:
        want = expected_ids(written, tmp_path / "so-far.log")
        records = read_topics(
            broker.bootstrap, topic_names, lambda rs: want <= {r.get("id") for r in rs}
        )
        assert want <= {r.get("id") for r in records}, "the follower did not catch up"
        return records

    def settled_state() -> bytes:
        """The state file once it records the end of the current file (the follower saves it
        just after Kafka's acknowledgement, so it can lag the topic by a moment)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            position = load_position(state)
            stat = os.stat(queue_log)
            if position and (position.inode, position.offset) == (stat.st_ino, stat.st_size):
                return state.read_bytes()
            time.sleep(0.05)
        raise AssertionError("the follower did not save its position")

    def write(chunk: list[str], path: Path = queue_log) -> None:
        append(path, chunk)
        written.extend(chunk)

    # 1. A log with history, then the follower starts.
    write(chunks[0])
    follower = IngestProcess(config, args, tmp_path / "follower.log").start()
    try:
        caught_up()
        # 2. Appends while it runs, including a line written in two pieces.
        half = chunks[1][0][:10]
        with open(queue_log, "a") as handle:
            handle.write(half)
        time.sleep(0.3)
        with open(queue_log, "a") as handle:
            handle.write(chunks[1][0][10:] + "\n")
        written.append(chunks[1][0])
        write(chunks[1][1:])
        # 3. Rotation by rename while running: the old file gets a last write, then a new file.
        os.rename(queue_log, log_dir / "queue_log.1")
        write(chunks[2][:5], log_dir / "queue_log.1")
        write(chunks[2][5:])
        caught_up()
        # 4. A crash (SIGKILL) in the worst place: after Kafka acknowledged a batch and before
        # the position was saved. The kill cannot be timed to that instant, so the position is
        # put back to what it was before those lines, which is what the state file holds then.
        saved = settled_state()
        write(chunks[3][:20])
        caught_up()
        follower.stop(signal.SIGKILL)
        state.write_bytes(saved)
        # ... and while it is down: more lines, and another rotation.
        write(chunks[3][20:])
        os.rename(queue_log, log_dir / "queue_log.2")
        write(chunks[4])
        metrics_port = free_port()
        follower = IngestProcess(
            config, [*args, "--metrics-port", str(metrics_port)], tmp_path / "follower.log"
        ).start()
        write(chunks[5])
        caught_up()
        # 5. Truncation (copytruncate style) once everything was read, then new lines.
        with open(queue_log, "w"):
            pass
        write(chunks[6])
        write(chunks[7] + [line for chunk in chunks[8:] for line in chunk])
        records = caught_up()
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as response:
            exposition = response.read().decode()
    finally:
        follower.stop()
    resets = {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "ccpulse_ingest_file_resets_total"
    }
    # The restarted follower finished queue_log.2 (found by inode), then met one truncation.
    assert resets == {"rotated": 1.0, "truncated": 1.0}

    assert written == lines
    # Every line is on the topic, and nothing else: the ids are exactly the whole log's ids.
    events = [DECODER.decode(json.dumps(r)) for r in records if "type" in r]
    whole = tmp_path / "whole.log"
    assert {e.id for e in events} == expected_ids(lines, whole)
    duplicates = len(events) - len({e.id for e in events})
    assert duplicates > 0  # the re-read lines: at-least-once, duplicates ignored downstream
    # The malformed line went to the dead-letter topic with its line number.
    (dead,) = [r for r in records if r.get("reason_code") == "malformed"]
    assert dead["original_text"] == "this line is not a queue_log line"
    assert dead["source"]["line"] >= 1

    # The KPIs of what the follower produced (duplicates and all) = replay of the whole log.
    at = max(int(e.time.timestamp()) for e in events) + 1
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    for window in ("15m", "1h"):
        assert (
            main(
                [
                    "replay",
                    str(whole),
                    "--format",
                    "asterisk-queue-log",
                    "--at",
                    iso,
                    "--window",
                    window,
                    "--json",
                ]
            )
            == 0
        )
        replayed = json.loads(capsys.readouterr().out)
        settings = replay_settings(EngineSettings(), window)
        produced = replay_events(events, settings, at, window).document()
        assert produced == replayed
        assert replayed["queues"]["billing"]["answered"] > 0
    print(f"{len(lines)} lines, {len(events)} events produced, {duplicates} duplicates")
