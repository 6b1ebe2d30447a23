"""``make bench``'s figures at scale, on one broker (Apache Kafka by default): a worker holding
1,000 queues, the loop stalls a full /metrics scrape causes, the recovery of that state after a
restart, freshness at 20,000 events/s, and the scale-out curve with 1, 2 and 3 workers.

All on topics of ``--scale-partitions`` (12) partitions of their own, on a broker started and
stopped here. No figure is a test assertion: tests/test_bench_scale.py checks the arithmetic.

1. **State.** ``--scale-queues`` (1,000) queues of simulated traffic, ``--scale-events`` of it,
   pre-produced; a worker of its own group drains it.
2. **Loop stalls.** Under a steady ``--rate`` (2,000 events/s) over the same queues: first
   ``--stall-seconds`` without any scrape but the probe's, then as long with a full /metrics
   scrape every ``--scrape-interval`` (5 s), as Prometheus does. The worker's loop-lag histogram
   (streams/worker/loop_lag.py) is read before and after each half; its difference is that half's
   stalls. Beside the worker, a process with an idle event loop probes the same way: what the
   machine alone (the other processes on its cores) does to a loop meanwhile. The worker's CPU
   seconds per half give the exposition's cost per event.
3. **Recovery.** The worker is stopped (gracefully: its state snapshots written) and a new one of
   the same group started: seconds from its start to ``/ready``, less the start-up of a worker
   of a new group on the same broker (no state to rebuild).
4. **Freshness at 20,000 events/s** on that worker (bench/freshness_phase.py's markers).
   Before all of these, the exposition's CPU per scrape and per event, in process
   (bench/exposition_cost.py), on the same events.
5. **Scale-out.** 1, 2, 3 workers of one group on fresh topics: the backlog is produced once all
   are ready (while they drain it: the producer's own rate is kept beside theirs), their
   applied events summed; then freshness at ``--rate`` for a short while, read from the worker
   that owns the marker's queue.
"""

from __future__ import annotations

import argparse
import itertools
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.freshness_phase import freshness
from bench.loop_stall_phase import loop_stalls
from bench.worker_phase import (
    applied_total,
    start_worker,
    wait_drained,
    write_worker_config,
)
from bench.workload import encode_records, simulated_events

__all__ = ["measure_scale", "produce_batches"]

Progress = Callable[[str], None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recovery(
    worker: Any,
    bootstrap: str,
    workdir: Path,
    config: Path,
    app_id: str,
    embedded: bool,
    progress: Progress,
) -> tuple[dict[str, Any], Any]:
    """Stop ``worker`` and time a new one of the same group from start to ready, less the
    start-up of a worker of a group with no state; returns the figures and the new worker."""
    events = applied_total(worker)
    queues = len(worker.kpis()["queues"])
    worker.stop()
    started = time.perf_counter()
    fresh = start_worker(bootstrap, _free_port(), workdir, config, app_id + "-empty", embedded)
    baseline = time.perf_counter() - started
    fresh.stop()
    started = time.perf_counter()
    restarted = start_worker(bootstrap, _free_port(), workdir, config, app_id, embedded)
    seconds = time.perf_counter() - started
    log = restarted.log_path.read_text(errors="replace")
    rebuilt = re.findall(r"table recovery finished.*?snapshots=(\d+).*?deltas_replayed=(\d+)", log)
    recovered = max(seconds - baseline, 1e-3)
    figures = {
        "queues": queues,
        "events_in_state": events,
        "start_to_ready_seconds": seconds,
        "empty_start_to_ready_seconds": baseline,
        "seconds": recovered,
        "events_per_second": events / recovered,
        "changelog_snapshots": sum(int(s) for s, _ in rebuilt),
        "changelog_deltas": sum(int(d) for _, d in rebuilt),
    }
    progress(
        f"recovery of {queues:,} queues ({events:,.0f} events): {recovered:.1f} s "
        f"({seconds:.1f} s to ready, {baseline:.1f} s for an empty start)"
    )
    return figures, restarted


def produce_batches(bootstrap: str, topics: dict[str, str], records: Sequence[Any]) -> float:
    """Send ``records`` as aiokafka record batches, one per partition at a time, partitioned by
    key as Kafka's default partitioner does; seconds until all are acknowledged. Several times
    faster than bench/kafka_phase.py's ``produce`` (kafka-python, one ``send`` per record),
    which took a minute for 300,000 events on this machine."""
    import asyncio

    return asyncio.run(_produce_batches(bootstrap, topics, records))


async def _produce_batches(bootstrap: str, topics: dict[str, str], records: Sequence[Any]) -> float:
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import murmur2

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        counts = {name: len(await producer.partitions_for(name)) for name in topics.values()}
        batches: dict[tuple[str, int], Any] = {}
        pending = []
        for family, key, value in records:
            topic = topics[family]
            partition = (murmur2(key) & 0x7FFFFFFF) % counts[topic]
            batch = batches.get((topic, partition))
            if batch is None:
                batch = batches[topic, partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[topic, partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for (topic, partition), batch in batches.items():
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        for future in pending:
            await future
    finally:
        await producer.stop()
    return time.perf_counter() - started


def _topics(prefix: str) -> dict[str, str]:
    return {name: f"{prefix}.{name}" for name in ("telephony", "ticketing", "alerts", "deadletter")}


def _create(bootstrap: str, topics: dict[str, str], partitions: int) -> None:
    from streams.broker.topics import TopicSpec, ensure_topics

    ensure_topics(
        bootstrap,
        [
            TopicSpec(topics["telephony"], partitions),
            TopicSpec(topics["ticketing"], partitions),
            TopicSpec(topics["alerts"], 1),
            TopicSpec(topics["deadletter"], 1),
        ],
    )


def scale_out(
    bootstrap: str,
    workdir: Path,
    records: Sequence[Any],
    args: argparse.Namespace,
    embedded: bool,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Throughput and freshness with 1, 2 and 3 workers of one group on fresh topics."""
    curve = []
    for count in args.scale_out_workers:
        topics = _topics(f"scale{count}")
        _create(bootstrap, topics, args.scale_partitions)
        config = write_worker_config(
            workdir / f"scale{count}.yaml", topics, args.scale_partitions, args.fetch_wait_ms
        )
        app_id = f"ccpulse-scale-{count}"
        workers = [
            start_worker(bootstrap, _free_port(), workdir, config, app_id, embedded, wait=False)
            for _ in range(count)
        ]
        try:
            for worker in workers:
                worker.wait_ready(180.0)
            time.sleep(8.0)  # the group's last rebalance settled
            # Produced while the workers drain, in a thread; the producer's own rate is kept
            # beside theirs (when it is the lower, it is what the figure measured).
            sending: dict[str, float] = {}
            sender = threading.Thread(
                target=_send, args=(sending, bootstrap, topics, records), daemon=True
            )
            produced = time.perf_counter()
            sender.start()
            samples: list[tuple[float, float]] = []
            deadline = produced + 300.0
            while time.perf_counter() < deadline:
                done = sum(applied_total(worker) for worker in workers)
                samples.append((time.perf_counter(), done))
                if done >= len(records):
                    break
                time.sleep(0.25)
            sender.join()
            first = next((t for t, c in samples if c >= 0.1 * len(records)), None)
            last = next((t for t, c in samples if c >= 0.9 * len(records)), None)
            rate = 0.8 * len(records) / (last - first) if first and last and last > first else None
            wait_drained(bootstrap, app_id, len(records), progress)
            owner = _marker_owner(workers, bootstrap, topics)
            fresh = freshness(
                owner,
                bootstrap,
                topics,
                args.rate,
                args.scale_out_freshness_seconds,
                progress,
                workdir / f"scale{count}-profile.txt",
                args.fetch_wait_ms,
            )
        finally:
            for worker in workers:
                worker.stop()
        point = {
            "workers": count,
            "rate": rate,
            "events": len(records),
            "producer_rate": len(records) / sending["seconds"] if sending.get("seconds") else None,
            "freshness_p50_seconds": fresh["latency_seconds"].get("p50"),
            "freshness_p99_seconds": fresh["latency_seconds"].get("p99"),
            "markers": fresh["markers"],
        }
        curve.append(point)
        progress(
            f"scale-out, {count} worker(s): {rate or 0:,.0f} events/s, freshness p99 "
            f"{1000 * (point['freshness_p99_seconds'] or 0):.0f} ms"
        )
    return curve


def _send(out: dict[str, float], bootstrap: str, topics: dict[str, str], records: Any) -> None:
    out["seconds"] = produce_batches(bootstrap, topics, records)


def _marker_owner(workers: list[Any], bootstrap: str, topics: dict[str, str]) -> Any:
    """The worker whose partitions hold the marker queue (a first marker sent, then looked
    for on each worker's /api/kpis)."""
    from datetime import UTC, datetime

    import msgspec
    from kafka import KafkaProducer

    from bench.freshness_phase import MARKER_QUEUE
    from processors.events import CallBlocked

    marker = CallBlocked(
        id="bench-marker-owner",
        time=datetime.now(UTC),
        queue=MARKER_QUEUE,
        call_id="bench-marker-owner",
        reason="other",
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(
            topics["telephony"], key=MARKER_QUEUE.encode(), value=msgspec.json.encode(marker)
        )
        producer.flush()
    finally:
        producer.close()
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        for worker in workers:
            if MARKER_QUEUE in worker.kpis()["queues"]:
                return worker
        time.sleep(0.2)
    raise RuntimeError("no worker exports the marker queue")


HISTORY_GAP_SECONDS = 120.0
"""The scale phase's state ends this long before the live load of its stall and freshness
steps begins, as a worker's state meets live traffic."""


def _history_up_to_now(queues: int, count: int) -> list[Any]:
    """``count`` simulated events of ``queues`` queues ending within ten minutes before
    ``HISTORY_GAP_SECONDS`` ago. Started 4 h back, 200,000 events ended 3.5 h before the live
    load, and each queue's first live event closed 14 quarter hours at once: a transient that
    the loop-stall step measured as if it were the steady state. The simulator's traffic
    follows the time of day, so the start is moved a few times until the end falls there (else
    the 4 h start is kept)."""

    def simulated(start: float) -> list[Any]:
        return list(itertools.islice(simulated_events(queues, start, seed=29), count))

    start = float(int(time.time() - 4 * 3600))
    events = kept = simulated(start)
    for _ in range(4):
        short = time.time() - HISTORY_GAP_SECONDS - events[-1].time.timestamp()
        if 0.0 <= short <= 600.0:
            break
        start = float(int(start + short))
        events = simulated(start)
    else:
        events = kept
    newest = events[-1].time.timestamp()
    if newest > time.time():
        events = kept
        newest = events[-1].time.timestamp()
    if newest > time.time():
        raise SystemExit(f"the scale phase's traffic runs past now ({newest})")
    return events


def measure_scale(
    kind: str, args: argparse.Namespace, workdir: Path, progress: Progress
) -> dict[str, Any]:
    """Every figure of the module docstring, on a broker of ``kind`` started and stopped here."""
    from bench.broker_phase import start_broker
    from bench.exposition_cost import exposition_cost

    workdir = workdir / f"scale-{kind}"
    workdir.mkdir(parents=True, exist_ok=True)
    embedded = kind == "embedded"
    broker = start_broker(kind, workdir)
    results: dict[str, Any] = {}
    worker = None
    try:
        events = _history_up_to_now(args.scale_queues, args.scale_events)
        records = encode_records(events)
        progress("exposition cost, in process (bench/exposition_cost.py)")
        results["exposition_cost"] = exposition_cost(events, args.rate, args.scrape_interval)
        cost = results["exposition_cost"]
        progress(
            f"  {cost['cpu_seconds_per_scrape'] * 1000:,.0f} ms of CPU per scrape of "
            f"{cost['queues']:,} queues, {cost['cpu_seconds_per_event'] * 1e6:,.1f} µs per event"
        )
        del events
        topics = _topics("state")
        _create(broker.bootstrap, topics, args.scale_partitions)
        seconds = produce_batches(broker.bootstrap, topics, records)
        progress(
            f"scale: {len(records):,} events of {args.scale_queues:,} queues produced in "
            f"{seconds:.1f} s"
        )
        config = write_worker_config(
            workdir / "state.yaml", topics, args.scale_partitions, args.fetch_wait_ms
        )
        app_id = "ccpulse-state"
        worker = start_worker(broker.bootstrap, _free_port(), workdir, config, app_id, embedded)
        wait_drained(broker.bootstrap, app_id, len(records), progress)
        progress(f"loop stalls: {args.stall_seconds:.0f} s without scrapes, then with")
        results["loop_stall"] = loop_stalls(worker, broker.bootstrap, topics, args, progress)
        results["recovery"], worker = recovery(
            worker, broker.bootstrap, workdir, config, app_id, embedded, progress
        )
        progress(f"freshness at {args.rate_20k:,.0f} events/s for {args.seconds_20k:.0f} s")
        try:  # a step that fails leaves the others' figures
            results["freshness_20k"] = freshness(
                worker,
                broker.bootstrap,
                topics,
                args.rate_20k,
                args.seconds_20k,
                progress,
                workdir / "freshness-20k-profile.txt",
                args.fetch_wait_ms,
                broker.pid,
            )
        except Exception as error:
            progress(f"freshness at {args.rate_20k:,.0f} events/s failed: {error!r}")
            results["errors"] = [f"freshness_20k: {error!r}"]
        worker.stop()
        worker = None
        out_records = records[: args.scale_out_events]
        try:
            results["scale_out"] = scale_out(
                broker.bootstrap, workdir, out_records, args, embedded, progress
            )
        except Exception as error:
            progress(f"scale-out failed: {error!r}")
            results.setdefault("errors", []).append(f"scale_out: {error!r}")
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
    return results
