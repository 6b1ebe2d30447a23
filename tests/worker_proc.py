"""A real ccpulse worker process for integration tests, started and stopped by its PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]


class Broker(Protocol):
    @property
    def bootstrap(self) -> str: ...


class WorkerProcess:
    """``broker``: the session's broker (Apache Kafka, or the embedded one, whose worker gets
    ``--embedded-broker``), or a bootstrap string with ``embedded_broker`` said explicitly."""

    def __init__(
        self,
        broker: Broker | str,
        port: int,
        data_dir: Path,
        app_id: str = "ccpulse-test",
        config: Path | None = None,
        log_path: Path | None = None,
        embedded_broker: bool | None = None,
    ) -> None:
        from streams.broker.embedded import EmbeddedBroker

        bootstrap = broker if isinstance(broker, str) else broker.bootstrap
        if embedded_broker is None:
            embedded_broker = isinstance(broker, EmbeddedBroker)
        self.embedded_broker = embedded_broker
        self.bootstrap, self.port, self.data_dir, self.app_id = bootstrap, port, data_dir, app_id
        self.config = config
        self.log_path = log_path or data_dir / f"worker-{port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: float = 90.0) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "streams.cli"]
        if self.config is not None:
            command += ["--config", str(self.config)]
        command += ["worker", *(["--embedded-broker"] if self.embedded_broker else [])]
        command += [
            "--bootstrap",
            self.bootstrap,
            "--web-port",
            str(self.port),
            "--data-dir",
            str(self.data_dir / f"faust-{self.port}"),
            "--app-id",
            self.app_id,
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log, env=env)
        if wait_ready:
            self.wait_ready(wait_ready)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if self.get_json("/ready").get("ready"):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        # Stopped here: a caller whose start() raised has no handle to stop it by, and a
        # worker left running would consume the next tests' CPU and topics.
        self.kill()
        raise TimeoutError(f"worker not ready after {timeout} s (killed):\n{self.log_tail()}")

    def get(self, path: str) -> bytes:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as error:
            return bytes(error.read())

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def kpis(self) -> dict[str, Any]:
        return dict(self.get_json("/api/kpis"))

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode
