"""The ccpulse worker under load: sustained throughput, end-to-end freshness, memory.

A real ``ccpulse worker`` process (tests/worker_proc.py starts it and stops it by PID) runs on
the embedded broker with the default KPI set. Nothing inside the worker is instrumented for the
benchmark: throughput is read from the consumer group's committed offsets (cheap for the worker,
unlike scraping /metrics, which computes every queue's snapshot), freshness from /metrics, and
memory from /proc.
"""

from __future__ import annotations

import multiprocessing
import random
import re
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import yaml

from bench.kafka_phase import committed_total
from bench.machine import rss_bytes
from bench.stats import rate_between, summary
from processors.events import TICKETING_TYPES, CallBlocked
from tests.worker_proc import WorkerProcess

__all__ = [
    "MARKER_QUEUE",
    "freshness",
    "start_worker",
    "throughput",
    "wait_drained",
    "write_worker_config",
]

MARKER_QUEUE = "bench-marker"
_encoder = msgspec.json.Encoder()
Progress = Callable[[str], None]


def write_worker_config(path: Path, topics: dict[str, str], partitions: int) -> Path:
    """The worker's YAML: the benchmark's topics, everything else the shipped defaults."""
    config = {
        "topics": {
            "telephony": topics["telephony"],
            "ticketing": topics["ticketing"],
            "alerts": topics["alerts"],
            "deadletter": topics["deadletter"],
            "partitions": partitions,
        }
    }
    path.write_text(yaml.safe_dump(config))
    return path


def start_worker(bootstrap: str, port: int, workdir: Path, config: Path, app_id: str) -> Any:
    worker = WorkerProcess(bootstrap, port, workdir, app_id=app_id, config=config)
    return worker.start(wait_ready=120.0)


def throughput(
    worker: Any, bootstrap: str, app_id: str, expected: int, progress: Progress
) -> dict[str, Any]:
    """Wait until the worker has committed ``expected`` events; the sustained rate is taken
    between 10 % and 90 % of them (start-up and the last commit interval left out)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    samples: list[tuple[float, float]] = []
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
            samples.append((now, float(done)))
            peak_rss = max(peak_rss, rss_bytes(worker.process.pid)[0])
            if now - last_report >= 5.0:
                progress(f"worker drained {done:,}/{expected:,} events")
                last_report = now
            if done >= expected:
                break
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker died:\n{worker.log_tail()}")
            time.sleep(0.25)
    finally:
        admin.close()
    result: dict[str, Any] = {"events": expected, "drained": samples[-1][1] >= expected}
    steady = rate_between(samples, 0.1 * expected, 0.9 * expected)
    if steady is not None:
        rate, seconds, counted = steady
        result.update(rate=rate, seconds=seconds, counted=counted)
    first = next((t for t, c in samples if c > 0), None)
    if first is not None:
        result["first_commit_to_drained_seconds"] = samples[-1][0] - first
    result["rss_during_bytes"] = peak_rss
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


# -- freshness --------------------------------------------------------------------------------


def _background_load(bootstrap: str, topics: dict[str, str], rate: float, seconds: float) -> None:
    """Child process: simulated events at a steady ``rate``, each stamped with its send time.

    The simulator's events keep their order and mix; their times are replaced by the wall clock
    so the worker's clock (the later of wall time and event time) stays on the wall clock.
    """
    from kafka import KafkaProducer

    from bench.workload import simulated_events

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    events = simulated_events(100, time.time(), seed=23)
    tick = 0.01
    per_tick = rate * tick
    owed = 0.0
    started = time.perf_counter()
    next_tick = started
    while time.perf_counter() - started < seconds:
        owed += per_tick
        stamp = datetime.now(UTC)
        while owed >= 1.0:
            event = msgspec.structs.replace(next(events), time=stamp)
            topic = topics["ticketing" if isinstance(event, TICKETING_TYPES) else "telephony"]
            producer.send(topic, key=event.queue.encode(), value=_encoder.encode(event))
            owed -= 1.0
        next_tick += tick
        pause = next_tick - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    producer.flush()
    producer.close()


def _marker_value(body: bytes) -> float:
    pattern = (
        rb'^ccpulse_window_blocked\{queue="' + MARKER_QUEUE.encode() + rb'",window="1h"\} (\S+)$'
    )
    found = re.search(pattern, body, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def freshness(
    worker: Any,
    bootstrap: str,
    topics: dict[str, str],
    rate: float,
    seconds: float,
    progress: Progress,
) -> dict[str, Any]:
    """Event produced -> visible on /metrics, under a steady background of ``rate`` events/s.

    A marker is a ``call.blocked`` in a queue of its own (``bench-marker``): each one adds 1 to
    ``ccpulse_window_blocked{queue="bench-marker",window="1h"}``. For each marker: note the time,
    send it and flush, then scrape /metrics back to back until the count includes it. Latency =
    end of the first scrape that shows it - time before the send. A scrape that started before
    the marker was applied cannot show it, so the figure is an upper bound, too high by at most
    one scrape's duration (reported as the resolution). After a marker is seen the next one
    waits a random 0.5-1.0 s: scraping /metrics back to back computes every queue's snapshot
    each time, and without pauses the benchmark's own polling would starve the worker (a
    Prometheus server scrapes every few seconds, not continuously).
    """
    from kafka import KafkaProducer

    loader = multiprocessing.get_context("fork").Process(
        target=_background_load, args=(bootstrap, topics, rate, seconds + 10.0), daemon=True
    )
    loader.start()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    url = worker.url + "/metrics"
    rng = random.Random(3)
    latencies: list[float] = []
    scrapes: list[float] = []
    missed = 0
    peak_rss = 0
    try:
        time.sleep(5.0)  # let the background load reach its steady rate first
        base = _marker_value(_scrape(url, scrapes))
        end = time.perf_counter() + seconds
        index = 0
        last_report = time.perf_counter()
        while time.perf_counter() < end:
            index += 1
            marker = CallBlocked(
                id=f"bench-marker-{index}",
                time=datetime.now(UTC),
                queue=MARKER_QUEUE,
                call_id=f"bench-marker-call-{index}",
                reason="other",
            )
            sent = time.perf_counter()
            producer.send(
                topics["telephony"], key=MARKER_QUEUE.encode(), value=_encoder.encode(marker)
            )
            producer.flush()
            seen = None
            value = base
            while time.perf_counter() - sent < 10.0:
                value = _marker_value(_scrape(url, scrapes))
                if value >= base + index:
                    seen = time.perf_counter()
                    break
            if seen is None:
                missed += 1  # later markers still count it if it arrives after all
                progress(f"marker {index} not seen within 10 s (count {value:g}, base {base:g})")
            else:
                latencies.append(seen - sent)
            peak_rss = max(peak_rss, rss_bytes(worker.process.pid)[0])
            if time.perf_counter() - last_report >= 5.0:
                recent = summary(latencies[-20:]) if latencies else {}
                progress(
                    f"freshness: {len(latencies)} markers, recent p50 "
                    f"{recent.get('p50', float('nan')):.3f} s"
                )
                last_report = time.perf_counter()
            time.sleep(rng.uniform(0.5, 1.0))
    finally:
        producer.close()
        loader.join(timeout=seconds + 30.0)
        if loader.is_alive():
            loader.terminate()
    return {
        "background_rate": rate,
        "markers": len(latencies),
        "missed": missed,
        "latency_seconds": summary(latencies),
        "scrape_seconds": summary(scrapes),
        "rss_during_bytes": peak_rss,
    }


def _scrape(url: str, durations: list[float]) -> bytes:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as response:
        body = bytes(response.read())
    durations.append(time.perf_counter() - started)
    return body
