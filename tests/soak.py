"""Crash soak: three workers SIGKILLed at random moments while an hour of traffic flows in.

One run: fresh topics (6 partitions) on a real broker, three ``ccpulse worker`` processes of one
app id with the default configuration, one simulated hour of traffic (``ccpulse simulate
--flat-day``, ending two minutes before now) produced in order, keyed by queue, with
``acks=all``, spread over ``stream_seconds``. Every ``kill_every`` seconds (drawn at random) a
random live worker is SIGKILLed and started again ``restart_after`` seconds later with the same
port and data directory, so some kills land while a rebalance or a table recovery is still
under way. Once the last event is in Kafka and every worker is back, the run waits until every
partition's lag is 0 and compares every queue's live gauges and windows with ``ccpulse replay``
of the same events at the instant the workers report (tests/cluster.py), then runs ``ccpulse
audit`` against every worker (the operator's check: it reads the topics back itself): a single
differing field fails the run.

``make soak`` runs it for many seeds (``python -m tests.soak --help``); tests/test_crash_soak.py
runs a short version inside ``make test``. Both print runs, kills and fields compared.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tests.cluster import Cluster, produce_paced
from tests.servers import free_port
from tests.worker_proc import ROOT, WorkerProcess

PARTITIONS = 6
WORKERS = 3


@dataclass
class SoakRun:
    """What one run did and found."""

    seed: int
    events: int = 0
    kills: int = 0
    fields: int = 0
    differences: list[str] = field(default_factory=list)
    seconds: float = 0.0
    log: str = ""


def soak_config(
    path: Path,
    prefix: str,
    partitions: int | None = PARTITIONS,
    session_timeout: float | None = None,
) -> Path:
    """Default configuration but for the topic names (and their partition count, unless
    None: the default; and the consumer session timeout, unless None)."""
    config: dict[str, Any] = {
        "topics": {
            "telephony": f"{prefix}.telephony",
            "ticketing": f"{prefix}.ticketing",
            "alerts": f"{prefix}.alerts",
            "deadletter": f"{prefix}.deadletter",
        }
    }
    if partitions is not None:
        config["topics"]["partitions"] = partitions
    if session_timeout is not None:
        config["worker"] = {"session_timeout_seconds": session_timeout}
    path.write_text(yaml.safe_dump(config))
    return path


def create_topics(bootstrap: str, config: Path) -> dict[str, str]:
    """The run's topics, the source topics with ``PARTITIONS`` partitions whatever the
    configuration says (as ``ccpulse topics create --partitions 6`` does)."""
    from streams.broker.topics import ensure_topics, topic_specs
    from streams.config import load_config

    topics = load_config(config).topics
    ensure_topics(bootstrap, topic_specs(topics, PARTITIONS))
    return {"telephony": topics.telephony, "ticketing": topics.ticketing}


def hour_of_traffic(directory: Path, seed: int) -> tuple[Path, list[bytes]]:
    """One simulated hour at the daily peak, ending two minutes before now, as JSON lines."""
    from tests.test_worker_integration import simulate_jsonl

    path = directory / "events.jsonl"
    start = datetime.fromtimestamp(time.time() - 3600 - 120, UTC).replace(microsecond=0)
    simulate_jsonl(path, start, 3600, seed, flat_day=True)
    return path, path.read_bytes().splitlines()


class Killer:
    """SIGKILLs a random live worker every ``every`` seconds (drawn from the range) and starts
    it again ``restart_after`` seconds later, same port and data directory, until stopped."""

    def __init__(
        self,
        cluster: Cluster,
        rng: random.Random,
        every: tuple[float, float],
        restart_after: tuple[float, float],
    ) -> None:
        self.cluster, self.rng = cluster, rng
        self.every, self.restart_after = every, restart_after
        self.kills = 0
        self._stop = threading.Event()
        self._restarts: list[threading.Timer] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.rng.uniform(*self.every)):
            live = self.cluster.alive()
            if not live:
                continue
            victim = self.rng.choice(live)
            victim.kill()
            self.kills += 1
            timer = threading.Timer(self.rng.uniform(*self.restart_after), self._restart, [victim])
            self._restarts.append(timer)
            timer.start()

    @staticmethod
    def _restart(worker: WorkerProcess) -> None:
        worker.start(wait_ready=0)

    @contextmanager
    def running(self) -> Iterator[Killer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=30)
            for timer in self._restarts:
                timer.join(timeout=30)


def produce_in_chunks(
    bootstrap: str,
    topics: dict[str, str],
    lines: list[bytes],
    chunks: int,
    seconds: float,
    cluster: Cluster,
    rng: random.Random,
    restart_after: tuple[float, float],
) -> int:
    """``lines`` in ``chunks`` bursts ``seconds / chunks`` apart, each flushed with acks=all;
    after each burst but the last, a random live worker is SIGKILLed and started again
    ``restart_after`` seconds later (issue 26's reproduction); how many kills."""
    from kafka import KafkaProducer

    from tests.cluster import topic_of

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    size = -(-len(lines) // chunks)
    kills = 0
    timers: list[threading.Timer] = []
    started = time.monotonic()
    try:
        for index in range(chunks):
            for line in lines[index * size : (index + 1) * size]:
                topic, key = topic_of(topics, line)
                producer.send(topic, key=key, value=line)
            producer.flush()
            if index + 1 < chunks:
                live = cluster.alive()
                if live:
                    victim = rng.choice(live)
                    victim.kill()
                    kills += 1
                    timer = threading.Timer(rng.uniform(*restart_after), Killer._restart, [victim])
                    timers.append(timer)
                    timer.start()
            delay = started + (index + 1) * seconds / chunks - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        producer.close()
        for timer in timers:
            timer.join(timeout=30)
    return kills


def audit(bootstrap: str, config: Path, cluster: Cluster) -> tuple[int, list[str]]:
    """``ccpulse audit`` of every live worker: (fields compared, differences)."""
    command = [sys.executable, "-m", "streams.cli", "--config", str(config), "audit"]
    command += ["--bootstrap", bootstrap, "--json"]
    for worker in cluster.alive():
        command += ["--worker", worker.url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=300)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return 0, [f"ccpulse audit exited {done.returncode}: {done.stderr.decode()[-2000:]}"]
    found = [json.dumps(row) for row in report.get("differences", [])]
    if done.returncode != 0 and not found:
        found = [f"ccpulse audit exited {done.returncode}: {done.stdout.decode()[-2000:]}"]
    return int(report.get("fields_compared", 0)), found


def soak_run(
    broker: Any,
    workdir: Path,
    seed: int,
    stream_seconds: float = 40.0,
    every: tuple[float, float] = (2.0, 6.0),
    restart_after: tuple[float, float] = (0.5, 5.0),
    drain_timeout: float = 180.0,
    chunks: int = 0,
    configured_partitions: int | None = PARTITIONS,
    session_timeout: float | None = None,
) -> SoakRun:
    """One soak run (see the module docstring) on ``broker``; its figures and differences.

    The source topics get ``PARTITIONS`` partitions; the workers' configuration says
    ``configured_partitions`` (None: the default, which is not ``PARTITIONS``) and
    ``session_timeout`` (None: the default of the broker kind)."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = f"soak{seed}x{free_port()}"
    config = soak_config(workdir / "ccpulse.yaml", prefix, configured_partitions, session_timeout)
    topics = create_topics(broker.bootstrap, config)
    events_file, lines = hour_of_traffic(workdir, seed)
    result = SoakRun(seed=seed, events=len(lines))
    rng = random.Random(seed)
    cluster = Cluster(broker, workdir, f"{prefix}-app", config)
    try:
        cluster.start(WORKERS)
        if chunks:
            result.kills = produce_in_chunks(
                broker.bootstrap, topics, lines, chunks, stream_seconds, cluster, rng, restart_after
            )
        else:
            with Killer(cluster, rng, every, restart_after).running() as killer:
                produce_paced(broker.bootstrap, topics, lines, stream_seconds, acks="all")
            result.kills = killer.kills
        for worker in cluster.workers:
            if worker.process is None or worker.process.poll() is not None:
                worker.start(wait_ready=0)
        for worker in cluster.workers:
            worker.wait_ready(120)
        cluster.wait_drained(PARTITIONS, drain_timeout)
        result.differences = cluster.wait_equal_to_replay(events_file, 60)
        if not result.differences:
            # The operator's proof on top: ccpulse audit reads the topics back and compares.
            result.fields, result.differences = audit(broker.bootstrap, config, cluster)
        if result.differences:
            result.log = cluster.logs()
    except AssertionError as error:
        result.differences = [f"run failed: {error}"]
        result.log = cluster.logs()
    finally:
        cluster.stop_all()
        result.seconds = time.monotonic() - started
    return result


def summary(runs: list[SoakRun]) -> str:
    kills = sum(r.kills for r in runs)
    fields = sum(r.fields for r in runs)
    failed = [r for r in runs if r.differences]
    return (
        f"crash soak: {len(runs)} runs, {kills} kills, {sum(r.events for r in runs)} events, "
        f"{fields} fields compared, {len(failed)} runs with a difference"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run")
    parser.add_argument("--stream-seconds", type=float, default=40.0)
    parser.add_argument("--broker", choices=["embedded", "kafka"], default="embedded")
    parser.add_argument("--workdir", type=Path, default=ROOT / "test-output" / "soak")
    parser.add_argument(
        "--chunks", type=int, default=0, help="produce in N bursts, a kill after each (0: paced)"
    )
    parser.add_argument("--keep-going", action="store_true", help="do not stop at a difference")
    args = parser.parse_args(argv)
    runs: list[SoakRun] = []
    with _broker(args.broker, args.workdir) as broker:
        for index in range(args.runs):
            seed = args.seed + index
            run = soak_run(
                broker,
                args.workdir / f"run-{seed}",
                seed,
                args.stream_seconds,
                chunks=args.chunks,
            )
            runs.append(run)
            state = "ok" if not run.differences else f"{len(run.differences)} differences"
            print(
                f"run {index + 1}/{args.runs} seed {seed}: {run.events} events, {run.kills} "
                f"kills, {run.fields} fields, {run.seconds:.0f} s: {state}",
                flush=True,
            )
            if run.differences:
                print("\n".join(run.differences[:40]), flush=True)
                (args.workdir / f"run-{seed}" / "failure.log").write_text(
                    "\n".join(run.differences) + "\n" + run.log
                )
                if not args.keep_going:
                    break
    print(summary(runs), flush=True)
    return 1 if any(r.differences for r in runs) else 0


@contextmanager
def _broker(kind: str, workdir: Path) -> Iterator[Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    if kind == "embedded":
        from streams.broker.embedded import EmbeddedBroker

        broker: Any = EmbeddedBroker("127.0.0.1", free_port(), log_path=workdir / "broker.log")
    else:
        from tests.kafka_broker import KafkaBroker

        broker = KafkaBroker(workdir=workdir / "kafka", log_path=workdir / "broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
