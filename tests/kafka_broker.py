"""Apache Kafka on 127.0.0.1 for the tests: a KRaft node (broker and controller) started and
stopped by its PID, from the jars deploy/kafka/pom.xml pins (``make kafka`` resolves them).

Same interface as streams.broker.embedded.EmbeddedBroker (``bootstrap``, ``start()``, ``stop()``,
``pid``, ``log_path``), so a test takes either. :class:`KafkaNode` is one JVM with any
listeners and settings; :class:`KafkaBroker` is the single-node broker the suites use. A cluster
of several nodes (one ``cluster_id``, a ``voters`` string naming every controller, and
:func:`replication_settings` for its size) or a SASL listener (``listeners`` and ``settings``)
are built from the same :class:`KafkaNode`.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

from streams.broker.embedded import BrokerError, BrokerProcess
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
KAFKA_DIR = ROOT / "deploy" / "kafka"
CLASSPATH_FILE = ROOT / ".venv" / "kafka.classpath"

# Startup in seconds, not tens of seconds, on 2 shared cores: a heap no larger than the tests
# need, the serial collector (no GC threads competing with the workers), class data sharing.
JVM_OPTIONS = (
    "-Xms128m",
    "-Xmx320m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
)

# Test-only settings, on top of deploy/kafka/broker.properties (what is deployed too): no wait
# before a consumer group's first rebalance, and fewer partitions for the internal topics, so
# the first group and the first transaction coordinator start in a second, not in ten.
TEST_SETTINGS = {
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.num.partitions": "4",
    "num.partitions": "1",
    "num.network.threads": "2",
    "num.io.threads": "4",
    "background.threads": "4",
    "log.cleaner.backoff.ms": "1000",
}


def kafka_version() -> str:
    """The Apache Kafka version pinned in deploy/kafka/pom.xml."""
    import xml.etree.ElementTree as ET

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(KAFKA_DIR / "pom.xml").find("m:properties/m:kafka.version", ns)
    assert version is not None and version.text
    return version.text


def deployed_settings() -> dict[str, str]:
    """deploy/kafka/broker.properties: the settings every ccpulse Kafka runs with."""
    settings = {}
    for line in (KAFKA_DIR / "broker.properties").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def replication_settings(brokers: int) -> dict[str, str]:
    """Replication for a cluster of ``brokers``: 3 replicas and 2 in sync once there are 3."""
    replicas = str(min(brokers, 3))
    in_sync = "2" if brokers >= 3 else "1"
    return {
        "default.replication.factor": replicas,
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": in_sync,
    }


def classpath() -> str:
    """The broker's class path; ``make kafka`` writes it (and fetches the jars) when missing."""
    pom = KAFKA_DIR / "pom.xml"
    if not CLASSPATH_FILE.exists() or CLASSPATH_FILE.stat().st_mtime < pom.stat().st_mtime:
        subprocess.run(["make", "-s", "kafka"], cwd=ROOT, check=True)
    return CLASSPATH_FILE.read_text().strip()


def new_cluster_id() -> str:
    """What ``kafka-storage.sh random-uuid`` prints (URL-safe base64 of 16 bytes), no JVM;
    never starting with "-", which the storage tool would read as an option (Kafka's own
    ``Uuid.randomUuid()`` draws again in that case too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaNode(BrokerProcess):
    """One Apache Kafka process: formats its storage, starts, waits until it answers, stops.

    ``listeners`` maps listener names to ports on ``host``; ``CONTROLLER`` is the KRaft one.
    ``voters`` is ``controller.quorum.voters`` (this node alone by default).
    """

    stop_timeout = 20.0  # a controlled shutdown before SIGKILL

    def __init__(
        self,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        node_id: int = 1,
        cluster_id: str | None = None,
        listeners: dict[str, int] | None = None,
        voters: str | None = None,
        settings: dict[str, str] | None = None,
        jvm_options: tuple[str, ...] = JVM_OPTIONS,
        log_path: Path | None = None,
    ) -> None:
        self.workdir, self.host, self.node_id = workdir, host, node_id
        self.cluster_id = cluster_id or new_cluster_id()
        self.listeners = listeners or {"PLAINTEXT": free_port(), "CONTROLLER": free_port()}
        self.voters = voters or f"{node_id}@{host}:{self.listeners['CONTROLLER']}"
        self.settings = settings or {}
        self.jvm_options = jvm_options
        self.log_path = log_path or workdir / f"kafka-{node_id}.log"
        # Clients bootstrap from the first listener that is not the controller's.
        self.port = next(port for name, port in self.listeners.items() if name != "CONTROLLER")

    def properties(self) -> dict[str, str]:
        broker_listeners = [name for name in self.listeners if name != "CONTROLLER"]
        return {
            **deployed_settings(),
            **TEST_SETTINGS,
            **replication_settings(1),
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": broker_listeners[0],
            "listeners": ",".join(f"{n}://{self.host}:{p}" for n, p in self.listeners.items()),
            "advertised.listeners": ",".join(
                f"{n}://{self.host}:{self.listeners[n]}" for n in broker_listeners
            ),
            "listener.security.protocol.map": ",".join(
                f"{n}:{'PLAINTEXT' if n in ('PLAINTEXT', 'CONTROLLER') else n}"
                for n in self.listeners
            ),
            "log.dirs": str(self.workdir / f"data-{self.node_id}"),
            **self.settings,
        }

    def _java(self, main: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise BrokerError("java not found: install openjdk-17-jre-headless (make system-deps)")
        log4j = f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}"
        return [java, *self.jvm_options, log4j, "-cp", classpath(), main, *args]

    def format(self) -> None:
        """``kafka-storage.sh format``: the log directory of a new node, with the cluster id."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"server-{self.node_id}.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        done = subprocess.run(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(config)
            ),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise BrokerError(f"formatting the storage failed:\n{done.stdout}{done.stderr}")

    def start(self, timeout: float = 90.0) -> KafkaNode:
        if not (self.workdir / f"data-{self.node_id}" / "meta.properties").exists():
            self.format()
        config = self.workdir / f"server-{self.node_id}.properties"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        # A session of its own, like the embedded broker: a terminal's Ctrl-C must not stop it
        # before its clients.
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(config)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # A KRaft broker opens its listener only once the controller has registered it and it
        # has caught up with the metadata log: an answered metadata request means ready.
        self._wait_until_serving(timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed (the data directory stays for a restart)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


class KafkaBroker(KafkaNode):
    """The single-node Apache Kafka of the suites: PLAINTEXT on a free port of 127.0.0.1."""

    def __init__(self, log_path: Path | None = None, workdir: Path | None = None) -> None:
        self._tempdir = None if workdir else tempfile.TemporaryDirectory(prefix="ccpulse-kafka-")
        super().__init__(workdir or Path(self._tempdir.name), log_path=log_path)  # type: ignore[union-attr]

    def stop(self, timeout: float | None = None) -> None:
        super().stop(timeout)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
