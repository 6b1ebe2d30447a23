"""The ccpulse worker under load: sustained throughput, end-to-end freshness, memory.

A real ``ccpulse worker`` process (tests/worker_proc.py starts it and stops it by PID) runs on
the broker bench/broker_phase.py started (Apache Kafka or the embedded one) with the default KPI
set. Nothing inside the worker is instrumented for the
benchmark: throughput is read from the consumer group's committed offsets (cheap for the worker,
unlike scraping /metrics, which computes every queue's snapshot), freshness from /metrics, and
memory from /proc.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.kafka_phase import committed_total
from bench.machine import rss_bytes
from bench.profile import ProfileRecorder
from bench.stats import rate_between
from tests.worker_proc import WorkerProcess

__all__ = [
    "profile_drain",
    "start_worker",
    "throughput",
    "wait_drained",
    "write_worker_config",
]

Progress = Callable[[str], None]


def write_worker_config(
    path: Path, topics: dict[str, str], partitions: int, fetch_wait_ms: int | None = None
) -> Path:
    """The worker's YAML: the benchmark's topics, everything else the shipped defaults
    (``fetch_wait_ms`` sets ``worker.fetch_max_wait_ms`` instead of its default)."""
    config: dict[str, Any] = {
        "topics": {
            "telephony": topics["telephony"],
            "ticketing": topics["ticketing"],
            "alerts": topics["alerts"],
            "deadletter": topics["deadletter"],
            "partitions": partitions,
        }
    }
    if fetch_wait_ms is not None:
        config["worker"] = {"fetch_max_wait_ms": fetch_wait_ms}
    path.write_text(yaml.safe_dump(config))
    return path


def start_worker(
    bootstrap: str,
    port: int,
    workdir: Path,
    config: Path,
    app_id: str,
    embedded: bool = True,
    wait: bool = True,
) -> Any:
    """A real worker process; ``embedded=False`` starts it without ``--embedded-broker``, so its
    producer batches changelog records as it would on Apache Kafka. On Tansu that is only safe
    while nothing recovers a table from the changelog (a benchmark worker that never restarts):
    see streams/broker/embedded.py. Its consumer fetch wait is ``worker.fetch_max_wait_ms`` of
    ``config``."""
    worker = WorkerProcess(
        bootstrap, port, workdir, app_id=app_id, config=config, embedded_broker=embedded
    )
    return worker.start(wait_ready=120.0 if wait else 0.0)


def applied_total(worker: Any) -> float:
    """Events the worker has applied: the sum of ``ccpulse_events_total``, from a scrape
    restricted to that family (no KPI snapshot is computed for it: cheap for the worker)."""
    url = worker.url + "/metrics?name[]=ccpulse_events_total"
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read()
    return sum(float(v) for v in re.findall(rb"^ccpulse_events_total\{[^}]*\} (\S+)$", body, re.M))


def throughput(
    worker: Any, bootstrap: str, app_id: str, expected: int, progress: Progress
) -> dict[str, Any]:
    """Wait until the worker has applied and committed ``expected`` events. The sustained
    rate is the applied one (``ccpulse_events_total``), taken between 10 % and 90 % of the
    events (start-up and the end left out); the committed one (the group's offsets, which
    Faust commits once a second after the changelog is written) is reported beside it."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    applied: list[tuple[float, float]] = []
    committed: list[tuple[float, float]] = []
    started = time.perf_counter()
    peak_rss = 0
    last_report = 0.0
    try:
        deadline = started + 300.0
        while time.perf_counter() < deadline:
            try:
                done = committed_total(admin, app_id)
            except Exception:  # the group does not exist until its first commit
                done = 0
            now = time.perf_counter()
            committed.append((now, float(done)))
            applied.append((now, applied_total(worker)))
            peak_rss = max(peak_rss, rss_bytes(worker.process.pid)[0])
            if now - last_report >= 5.0:
                progress(
                    f"worker applied {applied[-1][1]:,.0f}, committed {done:,}/{expected:,} events"
                )
                last_report = now
            if done >= expected:
                break
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker died:\n{worker.log_tail()}")
            time.sleep(0.25)
    finally:
        admin.close()
    result: dict[str, Any] = {"events": expected, "drained": committed[-1][1] >= expected}
    steady = rate_between(applied, 0.1 * expected, 0.9 * expected)
    if steady is not None:
        rate, seconds, counted = steady
        result.update(rate=rate, seconds=seconds, counted=counted)
    steady = rate_between(committed, 0.1 * expected, 0.9 * expected)
    if steady is not None:
        result["committed_rate"] = steady[0]
    first = next((t for t, c in committed if c > 0), None)
    if first is not None:
        result["first_commit_to_drained_seconds"] = committed[-1][0] - first
    result["rss_during_bytes"] = peak_rss
    return result


def profile_drain(
    worker: Any,
    bootstrap: str,
    app_id: str,
    expected: int,
    seconds: float,
    output: Path,
    progress: Progress,
) -> dict[str, Any] | None:
    """py-spy on ``worker`` (a worker of its own consumer group) for ``seconds`` while it drains
    the pre-produced topics: from the moment it has committed 10 % of ``expected`` events, so
    the profile shows the steady drain (batches, timers, changelog) and not start-up. None when
    py-spy is not installed or the worker drained too little to profile."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            try:
                if committed_total(admin, app_id) >= 0.1 * expected:
                    break
            except Exception:  # the group does not exist until its first commit
                pass
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker died:\n{worker.log_tail()}")
            time.sleep(0.1)
        recorder = ProfileRecorder(worker.process.pid, seconds, output)
        if not recorder.start():
            progress("py-spy not installed: no profile")
            return None
        progress(f"profiling a worker of its own group with py-spy ({seconds:.0f} s of its drain)")
        result = recorder.result()
        done = committed_total(admin, app_id)
    finally:
        admin.close()
    if result is not None:
        result["committed_at_end"] = done
        result["seconds"] = seconds
    return result


def wait_drained(bootstrap: str, app_id: str, expected: int, progress: Progress) -> None:
    """Block until the worker's group has committed ``expected`` events (at most 5 minutes)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + 300.0
        while time.monotonic() < deadline:
            if committed_total(admin, app_id) >= expected:
                return
            time.sleep(0.5)
        progress(f"worker had not drained {expected:,} events after 5 minutes")
    finally:
        admin.close()
