"""Freshness: an event produced -> visible on /metrics, measured with marker events under a
steady background of simulated events (produced in small timed batches by a process of its
own), with the worker's and the broker's CPU and a py-spy profile of the run
(docs/performance.md, Freshness)."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import random
import re
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from bench.kafka_phase import broker_roundtrip
from bench.machine import cpu_seconds, rss_bytes
from bench.profile import MAIN_THREAD, ProfileRecorder
from bench.stats import summary
from bench.worker_phase import Progress
from processors.events import TICKETING_TYPES, CallBlocked

__all__ = ["MARKER_QUEUE", "MAX_SIMULATED", "background_load", "freshness"]


MARKER_QUEUE = "bench-marker"


MAX_SIMULATED = 300_000
"""Events the load generator simulates at most; a longer load repeats them under other queue
names (:func:`_nth`): at 20,000 events/s the simulator alone would take minutes."""


_encoder = msgspec.json.Encoder()


_PLACEHOLDER_TIME = datetime(2000, 1, 1, tzinfo=UTC)


_PLACEHOLDER = b'"time":"2000-01-01T00:00:00Z"'


def background_load(
    bootstrap: str,
    topics: dict[str, str],
    rate: float,
    seconds: float,
    tick: float,
    ready: Any = None,
    batches: Any = None,
    queues: int = 100,
) -> None:
    """Child process: simulated events at a steady ``rate``, each stamped with its send time.

    The simulator's events keep their order and mix; their times are replaced by the wall clock
    so the worker's clock (the later of wall time and event time) stays on the wall clock. The
    load generator is not what is measured, so it is made cheap: events are simulated and
    encoded ahead (with a placeholder time patched in when sent) and sent with aiokafka as one
    record batch per partition every ``tick`` seconds (as a producer lingering that long
    batches them), partitioned by key as Kafka's default partitioner does. Sent one by one with
    kafka-python it took half a core of this 2-core machine, away from the worker and the
    broker. ``ready`` (a multiprocessing event) is set once the events are encoded and sending
    starts; ``batches`` (a multiprocessing value) counts the record batches sent; ``queues``:
    how many queues the simulated traffic spreads over.
    """
    asyncio.run(_load(bootstrap, topics, rate, seconds, tick, ready, batches, queues))


async def _load(
    bootstrap: str,
    topics: dict[str, str],
    rate: float,
    seconds: float,
    tick: float,
    ready: Any,
    batches_sent: Any,
    queues: int,
) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import murmur2

    from bench.workload import simulated_events

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        counts = {name: len(await producer.partitions_for(name)) for name in topics.values()}
        pending: list[tuple[str, int, bytes, bytes]] = []
        total = int(rate * seconds) + 1
        for event in itertools.islice(
            simulated_events(queues, time.time(), seed=23), min(total, MAX_SIMULATED)
        ):
            topic = topics["ticketing" if isinstance(event, TICKETING_TYPES) else "telephony"]
            key = event.queue.encode()
            value = _encoder.encode(msgspec.structs.replace(event, time=_PLACEHOLDER_TIME))
            partition = (murmur2(key) & 0x7FFFFFFF) % counts[topic]
            pending.append((topic, partition, key, value))
        if ready is not None:
            ready.set()
        per_tick = rate * tick
        owed = 0.0
        sent = 0
        started = time.perf_counter()
        next_tick = started
        while time.perf_counter() - started < seconds and sent < total:
            owed += per_tick
            stamp = b'"time":"' + datetime.now(UTC).isoformat().encode()[:-6] + b'Z"'
            batches: dict[tuple[str, int], Any] = {}
            while owed >= 1.0 and sent < total:
                topic, partition, key, value = _nth(pending, sent, counts)
                batch = batches.get((topic, partition))
                if batch is None:
                    batch = batches[topic, partition] = producer.create_batch()
                if (
                    batch.append(key=key, value=value.replace(_PLACEHOLDER, stamp), timestamp=None)
                    is None
                ):
                    await producer.send_batch(batch, topic, partition=partition)
                    _count(batches_sent)
                    batch = batches[topic, partition] = producer.create_batch()
                    batch.append(key=key, value=value.replace(_PLACEHOLDER, stamp), timestamp=None)
                sent += 1
                owed -= 1.0
            for (topic, partition), batch in batches.items():
                await producer.send_batch(batch, topic, partition=partition)
                _count(batches_sent)
            next_tick += tick
            pause = next_tick - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
        await producer.flush()
    finally:
        await producer.stop()


def _nth(
    pending: list[tuple[str, int, bytes, bytes]], index: int, counts: dict[str, int]
) -> tuple[str, int, bytes, bytes]:
    """The ``index``-th record of the load: ``pending``'s, and past its end ``pending`` again
    with every queue renamed (``r1-q0001``...), so repeated events are new facts of new
    queues, never duplicates the worker would drop."""
    round_, position = divmod(index, len(pending))
    topic, partition, key, value = pending[position]
    if round_ == 0:
        return topic, partition, key, value
    from aiokafka.partitioner import murmur2

    prefix = f"r{round_}-".encode()
    key = prefix + key
    value = value.replace(b'queue":"', b'queue":"' + prefix)  # "queue" and "to_queue"
    return topic, (murmur2(key) & 0x7FFFFFFF) % counts[topic], key, value


def _count(counter: Any) -> None:
    if counter is not None:
        with counter.get_lock():
            counter.value += 1


def _marker_value(body: bytes) -> float | None:
    """The marker count on /metrics; None when the series is absent from the scrape."""
    pattern = (
        rb'^ccpulse_window_blocked\{queue="' + MARKER_QUEUE.encode() + rb'",window="1h"\} (\S+)$'
    )
    found = re.search(pattern, body, re.MULTILINE)
    return float(found.group(1)) if found else None


def freshness(
    worker: Any,
    bootstrap: str,
    topics: dict[str, str],
    rate: float,
    seconds: float,
    progress: Progress,
    profile_path: Path,
    fetch_wait_ms: int = 1500,
    broker_pid: int | None = None,
    load_batch_seconds: float = 0.1,
) -> dict[str, Any]:
    """Event produced -> visible on /metrics, under a steady background of ``rate`` events/s.

    A marker is a ``call.blocked`` in a queue of its own (``bench-marker``): each one adds 1 to
    ``ccpulse_window_blocked{queue="bench-marker",window="1h"}``. For each marker: note the time,
    send it and flush, then probe /metrics for that family only (``?name[]=...``) every 20 ms
    after the previous probe's answer until the count includes the marker. Latency = end of
    that probe - time before the send. The whole page computes and renders every series inside
    the worker's event loop (~0.3 s), too much to poll: it is scraped once per marker, after
    the marker showed, for its duration. The next marker follows after a random 1-2 s. Nothing
    else reads from the broker meanwhile: on the embedded broker every fetch costs CPU in
    proportion to the record batches the partition holds, taken from the worker being measured
    (a watcher of the changelog, polled every 20 ms, did that in earlier versions of this
    benchmark). For the same reason the background load's batching (``load_batch_seconds``:
    one record batch per partition that often) sets how fast the broker's cost grows.
    """
    from kafka import KafkaProducer

    context = multiprocessing.get_context("fork")
    loading = context.Event()
    batches_sent = context.Value("q", 0)
    loader = context.Process(
        target=background_load,
        args=(bootstrap, topics, rate, seconds + 20.0, load_batch_seconds, loading, batches_sent),
        daemon=True,
    )
    loader.start()
    if not loading.wait(120.0):
        raise RuntimeError("the load generator did not start sending within 120 s")
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    url = worker.url + "/metrics"
    # Only the marker's family and the lag: the full page costs the worker ~0.3 s of its event
    # loop per scrape (measured below), too much to poll; the figures are the same.
    probe_url = url + "?name[]=ccpulse_window_blocked&name[]=ccpulse_consumer_lag"
    recorder = ProfileRecorder(worker.process.pid, 15.0, profile_path, idle=True)
    rng = random.Random(3)
    # Marker ids unique to this call: a second run on the same worker must not repeat the
    # first one's ids, which the worker rightly drops as duplicates.
    run = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    # (seconds since the first marker when sent, latency) per marker seen: when the slow ones
    # came, for whoever reads performance.json.
    timeline: list[tuple[float, float]] = []
    lags: list[float] = []
    absent = 0
    roundtrip: list[float] = []
    profiled = False
    scrapes: list[float] = []
    probes: list[float] = []
    missed = 0
    peak_rss = 0
    try:
        time.sleep(5.0)  # let the background load reach its steady rate first
        # The same load with a plain aiokafka consumer: what the broker and client add.
        roundtrip = broker_roundtrip(bootstrap, topics["telephony"], fetch_wait_ms=fetch_wait_ms)
        progress(f"broker round trip under load: p50 {summary(roundtrip).get('p50', 0):.3f} s")
        base = _marker_value(_scrape(probe_url, probes)) or 0.0
        profiled = recorder.start()
        cpu_start = _cpu_of(worker.process.pid, broker_pid)
        batches_at_start = batches_sent.value
        started = time.perf_counter()
        end = time.perf_counter() + seconds
        index = 0
        last_report = time.perf_counter()
        while time.perf_counter() < end:
            index += 1
            marker = CallBlocked(
                id=f"bench-marker-{run}-{index}",
                time=datetime.now(UTC),
                queue=MARKER_QUEUE,
                call_id=f"bench-marker-call-{run}-{index}",
                reason="other",
            )
            sent = time.perf_counter()
            producer.send(
                topics["telephony"], key=MARKER_QUEUE.encode(), value=_encoder.encode(marker)
            )
            producer.flush()
            seen = None
            value: float | None = base
            while seen is None and time.perf_counter() - sent < 10.0:
                body = _scrape(probe_url, probes)
                value = _marker_value(body)
                if value is not None and value >= base + index:
                    seen = time.perf_counter()
                    lags.append(_lag(body))
                else:
                    if value is None:
                        absent += 1  # the series was missing from this probe
                    time.sleep(0.02)
            if seen is not None:
                _scrape(url, scrapes)  # one whole page, for its duration
            if seen is None:
                missed += 1  # later markers still count it if it arrives after all
                progress(f"marker {index} not seen within 10 s (count {value}, base {base:g})")
            else:
                latencies.append(seen - sent)
                timeline.append((round(sent - started, 3), round(seen - sent, 4)))
            peak_rss = max(peak_rss, rss_bytes(worker.process.pid)[0])
            if time.perf_counter() - last_report >= 10.0:
                recent = summary(latencies[-20:]) if latencies else {}
                progress(
                    f"freshness: {len(latencies)} markers, recent p50 "
                    f"{recent.get('p50', float('nan')):.3f} s"
                )
                last_report = time.perf_counter()
            time.sleep(rng.uniform(1.0, 2.0))
        cpu_used = [
            (b - a) / (now_b - now_a)
            for (a, now_a), (b, now_b) in zip(
                cpu_start, _cpu_of(worker.process.pid, broker_pid), strict=True
            )
        ]
        batch_rate = (batches_sent.value - batches_at_start) / (time.perf_counter() - started)
    finally:
        producer.close()
        loader.join(timeout=seconds + 60.0)
        if loader.is_alive():
            loader.terminate()
    return {
        "broker_roundtrip_seconds": summary(roundtrip),
        "broker_roundtrip_fetch_wait_ms": fetch_wait_ms,
        "profile": recorder.result(limit=25, only=MAIN_THREAD) if profiled else None,
        "background_rate": rate,
        "load_batch_ms": round(load_batch_seconds * 1000),
        "load_batches_per_second": batch_rate,
        "markers": len(latencies),
        "missed": missed,
        "latency_seconds": summary(latencies),
        "scrape_seconds": summary(scrapes),
        "probe_seconds": summary(probes),
        "consumer_lag": summary(lags),
        "scrapes_without_marker_series": absent,
        "rss_during_bytes": peak_rss,
        "cores_used": dict(zip(("worker", "broker"), cpu_used, strict=False)),
        "markers_sent_at_and_latency_seconds": timeline,
        "halves_p50_seconds": [
            summary(half).get("p50")
            for half in (latencies[: len(latencies) // 2], latencies[len(latencies) // 2 :])
        ],
    }


def _cpu_of(*pids: int | None) -> list[tuple[float, float]]:
    """(CPU seconds used so far, when) of each process in ``pids`` that is given."""
    return [(cpu_seconds(pid), time.perf_counter()) for pid in pids if pid is not None]


def _lag(body: bytes) -> float:
    """Sum of ``ccpulse_consumer_lag`` (messages fetched-able but not yet processed)."""
    return sum(
        float(found.group(1))
        for found in re.finditer(rb"^ccpulse_consumer_lag\{[^}]*\} (\S+)$", body, re.MULTILINE)
    )


def _scrape(url: str, durations: list[float]) -> bytes:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as response:
        body = bytes(response.read())
    durations.append(time.perf_counter() - started)
    return body
