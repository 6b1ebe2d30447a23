"""``ccpulse staffing``: offline from explicit inputs, and live from a real worker's
``/api/staffing`` (integration: embedded broker + worker on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from processors.engine import KpiEngine
from processors.erlang_a import erlang_a
from processors.erlang_c import erlang_c
from streams.cli import main
from streams.config import ConfigError, load_config
from tests.servers import free_port
from tests.worker_proc import ROOT, Broker, WorkerProcess


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["staffing", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_offline_json_for_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "--calls-per-hour", "200", "--aht", "180", "--sl-threshold", "20", "--json"
    )
    doc = json.loads(out)
    assert code == 0
    assert doc["agents_required"] == doc["agents"] == 14
    assert round(100 * doc["service_level"], 1) == 88.8
    assert round(doc["asa_seconds"], 1) == 7.8
    assert doc["abandon_rate"] is None and doc["model"] == "erlang_c"


def test_offline_json_for_given_agents_with_patience(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "--calls-per-hour=200",
        "--aht=180",
        "--sl-threshold=20",
        "--patience=300",
        "--agents=11",
        "--json",
    )
    doc = json.loads(out)
    expected = erlang_a(11, 200 / 3600, 180.0, 300.0, 20.0)
    assert code == 0 and doc["model"] == "erlang_a" and doc["agents"] == 11
    assert doc["service_level"] == pytest.approx(expected.service_level)
    assert doc["asa_seconds"] == pytest.approx(expected.asa_seconds)
    assert doc["abandon_rate"] == pytest.approx(expected.abandon_rate)
    assert doc["agents_required_erlang_c"] == 14
    assert doc["agents_required"] == doc["agents_required_erlang_a"] <= 14


def test_offline_text_and_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "--calls-per-hour",
        "200",
        "--aht",
        "180",
        "--sl-threshold",
        "20",
        "--target-sl",
        "0.9",
    )
    assert code == 0
    assert "agents required: 15 (Erlang C" in out  # 14 agents give 88.8 % < 90 %
    sl = erlang_c(15, 10.0, 180.0, 20.0).service_level
    assert f"with 15 agents: service level {100 * sl:.1f} %" in out


@pytest.mark.parametrize(
    "args",
    [
        ["--aht", "180"],
        ["--calls-per-hour", "0", "--aht", "180", "--sl-threshold", "20"],
        ["--calls-per-hour", "100", "--aht", "180", "--sl-threshold", "20", "--target-sl", "1.5"],
        ["--queue", "billing", "--aht", "180"],
    ],
)
def test_bad_offline_input_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("ccpulse staffing: ")


def test_staffing_window_config_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "ccpulse.yaml"
    path.write_text("engine:\n  staffing_window: today\n")
    with pytest.raises(ConfigError, match=r"ccpulse.yaml:2: engine.staffing_window: must be"):
        load_config(path)
    path.write_text("engine:\n  staffing_window: 30m\n")
    assert load_config(path).engine.staffing_window == "30m"


# -- live, against a real worker -------------------------------------------------------------


@pytest.mark.integration
def test_live_what_if_from_a_running_worker(
    broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    from tests.test_worker_integration import (
        DECODER,
        metric_values,
        produce,
        setup_topics,
        simulate_jsonl,
        wait_for,
        write_config,
    )

    config = write_config(tmp_path / "ccpulse.yaml", topic_prefix)
    topics = setup_topics(broker, config)
    now = datetime.now(UTC).replace(microsecond=0)
    start = datetime.fromtimestamp(now.timestamp() - 20 * 60, UTC)
    events_file = tmp_path / "events.jsonl"
    simulate_jsonl(events_file, start, 20 * 60, seed=5)
    lines = events_file.read_bytes().splitlines()
    produce(broker, topics, lines)
    worker = WorkerProcess(
        broker, free_port(), tmp_path, app_id=f"{topic_prefix}-app", config=config
    ).start()
    try:
        wait_for(
            lambda: sum(metric_values(worker, "ccpulse_events_total").values()) >= len(lines),
            90,
            "all events to be applied",
        )
        doc: dict[str, Any] = worker.get_json("/api/staffing?queue=support&agents=7")
        assert doc["queue"] == "support" and doc["agents"] == 7 and doc["window"] == "15m"
        # The same figures from the same events through the same engine, at the same instant.
        events = [DECODER.decode(line) for line in lines]

        def computed(at: int) -> Any:
            engine = KpiEngine(load_config(config).engine)
            engine.apply_all(e for e in events if e.time.timestamp() < at + 1)
            return engine.staffing("support", at, agents=7)

        expected = computed(int(doc["at"]))
        assert doc["agents_required_erlang_c"] == expected.agents_required_erlang_c
        assert doc["service_level"] == pytest.approx(expected.predicted_service_level)
        assert doc["asa_seconds"] == pytest.approx(expected.predicted_asa_seconds)
        assert doc["model"] == expected.model
        # /metrics carries the live figures for the agents staffed now.
        required = metric_values(worker, "ccpulse_queue_agents_required_erlang_c")
        assert (("queue", "support"),) in required
        # The CLI asks the same endpoint.
        command = [sys.executable, "-m", "streams.cli", "staffing", "--url", worker.url]
        cli = subprocess.run(
            [*command, "--queue", "support", "--agents", "7", "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        from_cli = json.loads(cli.stdout)  # asked a moment later: the window has moved on
        later = computed(int(from_cli["at"]))
        assert from_cli["agents_required_erlang_c"] == later.agents_required_erlang_c
        assert from_cli["service_level"] == pytest.approx(later.predicted_service_level)
        assert from_cli["agents"] == 7
        # Errors: an unknown queue is a 404 with a reason; a bad head count a 400.
        assert "not owned" in worker.get_json("/api/staffing?queue=nope")["error"]
        assert "whole number" in worker.get_json("/api/staffing?queue=support&agents=x")["error"]
        missing = subprocess.run(
            [*command, "--queue", "nope"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert missing.returncode == 2 and "404" in missing.stderr
    finally:
        worker.stop()
