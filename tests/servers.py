"""Real servers for integration tests, on 127.0.0.1, each stopped by its PID.

A test that needs a server starts the real one: the embedded Kafka-protocol broker, ccpulse
workers (tests/worker_proc.py), Prometheus and Alertmanager from Debian's packages.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(path: str, package: str) -> str:
    """The binary's path; a missing one fails under CI (a broken install must not hide)."""
    found = shutil.which(path) or (path if os.path.exists(path) else None)
    if found:
        return found
    message = f"{path} not found: install Debian package {package} (make system-deps)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def stop_pid(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


class PrometheusServer:
    """A real Prometheus scraping ``targets`` every second."""

    def __init__(
        self,
        workdir: Path,
        targets: list[str],
        rule_files: list[Path] | None = None,
        alertmanager: str | None = None,
    ) -> None:
        self.binary = require_binary("prometheus", "prometheus")
        self.workdir = workdir
        self.port = free_port()
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "ccpulse", "static_configs": [{"targets": targets}]}],
        }
        if rule_files:
            config["rule_files"] = [str(p) for p in rule_files]
        if alertmanager:
            config["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]
            }
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError("prometheus did not become ready")

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def stop(self) -> None:
        if self.process:
            stop_pid(self.process)


class WebhookSink:
    """A real webhook receiver process (tests/webhook_sink.py) that records what it accepts.

    ``kill()`` stops it abruptly (SIGKILL) and ``start()`` brings it back on the same port, so a
    test can show that notifications sent while it was down arrive once it is back.
    """

    def __init__(self, workdir: Path, fail_first: int = 0) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.fail_first = fail_first
        self.out = workdir / f"webhook-{self.port}.jsonl"
        self.hold_file = workdir / f"webhook-{self.port}.hold"
        workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookSink:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.webhook_sink",
                f"--port={self.port}",
                f"--out={self.out}",
                f"--fail-first={self.fail_first}",
                f"--hold={self.hold_file}",
            ],
            cwd=Path(__file__).resolve().parents[1],
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"webhook sink exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url, timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("webhook sink did not start")

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until ``predicate(records)`` is true; returns the records then."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if predicate(records):
                return records
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhook sink: condition not met; got {records}")
            time.sleep(0.1)

    def hold(self) -> None:
        """From now on, hold every request's answer (see tests/webhook_sink.py)."""
        self.hold_file.touch()

    def release(self) -> None:
        """Answer the held requests (503: not accepted) and accept the next ones."""
        self.hold_file.unlink(missing_ok=True)

    def held(self) -> list[dict[str, Any]]:
        """The requests that arrived while held (never accepted)."""
        path = Path(f"{self.out}.held")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process:
            stop_pid(self.process)


class AlertmanagerServer:
    """A real Alertmanager (Debian ``prometheus-alertmanager``) delivering every alert to
    ``webhook_url`` with short group timings, so tests see firing and resolved within seconds.
    Clustering is off (no gossip port)."""

    def __init__(
        self,
        workdir: Path,
        webhook_url: str,
        group_wait: str = "1s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
    ) -> None:
        self.binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
        self.workdir = workdir
        self.port = free_port()
        config = {
            "route": {
                "receiver": "test",
                "group_by": ["alertname", "queue"],
                "group_wait": group_wait,
                "group_interval": group_interval,
                "repeat_interval": repeat_interval,
            },
            "receivers": [
                {
                    "name": "test",
                    "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
                }
            ],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AlertmanagerServer:
        log = open(self.workdir / "alertmanager.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.workdir / 'alertmanager.yml'}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"alertmanager exited; see {self.workdir / 'alertmanager.log'}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("alertmanager did not become ready")

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: the alerts Alertmanager holds (active, silenced, inhibited)."""
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=10) as response:
            return list(json.load(response))

    def stop(self) -> None:
        if self.process:
            stop_pid(self.process)
