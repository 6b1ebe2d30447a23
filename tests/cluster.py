"""Several ccpulse workers in one consumer group, and what the tests ask of them as a whole.

Real processes on 127.0.0.1 (tests/worker_proc.py), stopped by PID. A wallboard with several
workers reads every worker and takes each queue from the one worker that owns it; the helpers
here do the same with ``/api/kpis`` and check that no queue ever comes from two workers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from kafka import KafkaProducer

from processors.events import TICKETING_TYPES, Event
from processors.settings import EngineSettings
from streams.offline.audit import (
    differences,
    file_events,
    merge_owned,
    replay_document,
    same_second,
)
from tests.servers import free_port
from tests.worker_proc import Broker, WorkerProcess

WINDOWS = ["5m", "15m", "1h", "today"]
_DECODER = msgspec.json.Decoder(Event)


class Cluster:
    """Workers sharing one app id (= consumer group) and one configuration file."""

    def __init__(self, broker: Broker, workdir: Path, app_id: str, config: Path) -> None:
        self.broker, self.workdir, self.app_id, self.config = broker, workdir, app_id, config
        self.workers: list[WorkerProcess] = []

    def start(self, count: int, timeout: float = 120.0) -> list[WorkerProcess]:
        """Start ``count`` workers at once and wait until every one is ready."""
        new = [
            WorkerProcess(
                self.broker,
                free_port(),
                self.workdir,
                app_id=self.app_id,
                config=self.config,
            ).start(wait_ready=0)
            for _ in range(count)
        ]
        self.workers.extend(new)
        for worker in new:
            worker.wait_ready(timeout)
        return new

    def alive(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.process is not None and w.process.poll() is None]

    def stop_all(self) -> None:
        """SIGTERM to every live worker at once, then wait for each (SIGKILL after 30 s)."""
        live = self.alive()
        threads = [threading.Thread(target=w.stop) for w in live]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def owners(self) -> dict[str, list[int]]:
        """{queue: [ports of the live workers exporting it]} from one round of /api/kpis."""
        found: dict[str, list[int]] = {}
        for worker in self.alive():
            for queue in worker.kpis()["queues"]:
                found.setdefault(queue, []).append(worker.port)
        return found

    def merged_kpis(self, attempts: int = 20) -> tuple[int, dict[str, Any]]:
        """(at, {queue: kpis}) from all live workers, all read at the same engine second.

        Each worker answers at its own clock second; a round whose answers straddle a second
        boundary is read again. A queue exported by two workers is a failure, not a merge.
        """
        documents, one_second = same_second(
            lambda: [(w.port, w.kpis()) for w in self.alive()], attempts
        )
        if not one_second:
            raise AssertionError("the workers never answered within the same second")
        merged, owners = merge_owned(documents)
        for queue, ports in owners.items():
            assert len(ports) == 1, f"{queue} exported by two workers (one is {ports[-1]})"
        return int(documents[0][1]["at"]), merged

    def lag(self) -> dict[tuple[str, str], list[float]]:
        """{(topic, partition): [lag as exported by each live worker that exports it]}."""
        from prometheus_client.parser import text_string_to_metric_families

        found: dict[tuple[str, str], list[float]] = {}
        for worker in self.alive():
            for family in text_string_to_metric_families(worker.get("/metrics").decode()):
                for sample in family.samples:
                    if sample.name == "ccpulse_consumer_lag":
                        key = (sample.labels["topic"], sample.labels["partition"])
                        found.setdefault(key, []).append(sample.value)
        return found

    def drained(self, partitions: int, topics: int = 2) -> bool:
        """Every source partition is reported by exactly one live worker, with lag 0."""
        lag = self.lag()
        return len(lag) == partitions * topics and all(v == [0.0] for v in lag.values())

    def wait_drained(self, partitions: int, timeout: float) -> None:
        """Wait until :meth:`drained`; else fail with each partition's lag, each worker's
        pipeline counters and the workers' logs."""
        from tests.test_worker_integration import pipeline_counters

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.drained(partitions):
                return
            time.sleep(0.5)
        counters = "".join(f"--- {w.port}\n{pipeline_counters(w)}" for w in self.alive())
        raise AssertionError(
            f"not every partition drained after {timeout:g} s; lag {self.lag()}\n"
            + counters
            + self.logs()
        )

    def replay_differences(self, events_file: Path) -> list[str]:
        at, merged = self.merged_kpis()
        replayed = replay_document(file_events(events_file), at, WINDOWS, EngineSettings())
        return differences(merged, replayed)

    def wait_equal_to_replay(self, events_file: Path, timeout: float) -> list[str]:
        """Poll until the merged KPIs equal `ccpulse replay` of ``events_file``; the last diff."""
        last = ["not compared yet"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(w.get_json("/ready").get("ready") for w in self.alive()):
                last = self.replay_differences(events_file)
                if not last:
                    return last
            time.sleep(1)
        return last

    def logs(self) -> str:
        return "\n".join(f"--- worker {w.port}\n{w.log_tail(60)}" for w in self.workers)


class OwnershipWatch:
    """Samples every live worker's queues in the background and records proven double exports.

    Two rounds in a row (A1 B1 C1 A2 B2 C2): a queue in A1 and A2 and in B1 was exported by A and
    B at the moment B1 was read (A1 < B1 < A2), so a hand-over between two reads can never be
    mistaken for a double export.
    """

    def __init__(self, cluster: Cluster, interval: float = 0.3) -> None:
        self.cluster, self.interval = cluster, interval
        self.doubles: list[str] = []
        self.rounds = 0
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _round(self) -> list[tuple[int, set[str]]]:
        seen = []
        for worker in self.cluster.alive():
            try:
                seen.append((worker.port, set(worker.kpis()["queues"])))
            except (OSError, ValueError):
                continue  # a worker being killed or stopped right now
        return seen

    def _run(self) -> None:
        previous: list[tuple[int, set[str]]] | None = None
        while not self._stop.is_set():
            current = self._round()
            if previous is not None:
                second = dict(current)
                for i, (port_a, first_a) in enumerate(previous):
                    for port_b, first_b in previous[i + 1 :]:
                        both = first_a & second.get(port_a, set()) & first_b
                        if both:
                            at = time.monotonic() - self.started
                            self.doubles.append(
                                f"{sorted(both)} on {port_a} and {port_b}, "
                                f"{at:.1f} s after the watch started ({time.strftime('%H:%M:%S')})"
                            )
            previous = current
            self.rounds += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> OwnershipWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def produce_paced(
    bootstrap: str,
    topics: dict[str, str],
    lines: list[bytes],
    seconds: float,
    actions: dict[int, Callable[[], None]] | None = None,
    acks: int | str = 1,
) -> None:
    """Produce ``lines`` evenly over ``seconds``; run ``actions[i]`` once ``i`` lines are sent.

    Each action is flushed-before: the events sent so far are in the broker when it runs, so
    "kill after 40 %" means after 40 % of the stream is really there to be processed.
    """
    actions = dict(actions or {})
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=acks)
    pause = seconds / max(len(lines), 1)
    started = time.monotonic()
    try:
        for i, line in enumerate(lines):
            if i in actions:
                producer.flush()
                actions.pop(i)()
            topic, key = topic_of(topics, line)
            producer.send(topic, key=key, value=line)
            delay = started + (i + 1) * pause - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        producer.flush()
        for action in actions.values():
            action()
    finally:
        producer.close()


def topic_of(topics: dict[str, str], line: bytes) -> tuple[str, bytes]:
    """The source topic and key (the queue) an event's JSON line is produced with."""
    event = _DECODER.decode(line)
    topic = topics["ticketing"] if isinstance(event, TICKETING_TYPES) else topics["telephony"]
    return topic, event.queue.encode()


class Background:
    """An action run in its own thread when called, so the stream keeps flowing meanwhile."""

    def __init__(self, action: Callable[[], object]) -> None:
        self._thread = threading.Thread(target=action, daemon=True)

    def __call__(self) -> None:
        self._thread.start()

    def join(self, timeout: float = 60.0) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout)
