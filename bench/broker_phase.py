"""Every broker-bound figure of ``make bench`` on one broker: Apache Kafka or the embedded one.

bench/run.py calls :func:`measure_on` once per broker (Apache Kafka first) with the same
pre-encoded records, so the figures of both brokers come from one run and can stand side by
side. Apache Kafka is tests/kafka_broker.py's single-node KRaft broker, the one the suites run
on; the worker is started with ``--embedded-broker`` only on the embedded broker.
"""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.brokers_report import BROKER_NAMES
from bench.direct import direct_path, engine_only
from bench.freshness_phase import freshness
from bench.kafka_phase import ceiling, consumer_performance, produce
from bench.machine import rss_bytes
from bench.worker_phase import (
    profile_drain,
    start_worker,
    throughput,
    write_worker_config,
)
from bench.workload import Record

__all__ = ["measure_on", "start_broker"]

APP_ID = "ccpulse-bench"
Progress = Callable[[str], None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(kind: str, workdir: Path) -> Any:
    if kind == "kafka":
        from tests.kafka_broker import KafkaBroker

        # Its data (the events on disk) in a temp directory of its own, removed when it stops.
        return KafkaBroker(log_path=workdir / "kafka.log").start()
    from streams.broker.embedded import EmbeddedBroker

    return EmbeddedBroker("127.0.0.1", _free_port(), log_path=workdir / "broker.log").start()


def measure_on(
    kind: str,
    args: argparse.Namespace,
    records: Sequence[Record],
    topics: dict[str, str],
    workdir: Path,
    progress: Progress,
) -> dict[str, Any]:
    """Ceiling, Kafka's ConsumerPerformance, direct path, worker drains, freshness and the
    worker's RSS on broker ``kind`` ("kafka" or "embedded"), started and stopped here."""
    from streams.broker.topics import TopicSpec, ensure_topics
    from streams.config import WorkerConfig

    workdir = workdir / kind
    workdir.mkdir(parents=True, exist_ok=True)
    # Tansu needs --embedded-broker (one record per producer batch); Apache Kafka never does.
    embedded = kind == "embedded" and not args.producer_batching
    fetch_wait_ms = WorkerConfig(
        embedded_broker=embedded, fetch_max_wait_ms=args.fetch_wait_ms
    ).consumer_fetch_wait_ms()
    results: dict[str, Any] = {
        "setup": {
            "broker": BROKER_NAMES[kind],
            "worker_producer": "one record per request (--embedded-broker, Tansu)"
            if embedded
            else "batching (as on Apache Kafka)",
            "worker_fetch_wait_ms": fetch_wait_ms,
        }
    }
    broker = start_broker(kind, workdir)
    worker = None
    try:
        progress(f"{BROKER_NAMES[kind]} on {broker.bootstrap}")
        ensure_topics(
            broker.bootstrap,
            [
                TopicSpec(topics["telephony"], args.partitions),
                TopicSpec(topics["ticketing"], args.partitions),
                TopicSpec(topics["alerts"], 1),
                TopicSpec(topics["deadletter"], 1),
            ],
        )
        config = write_worker_config(
            workdir / "worker.yaml", topics, args.partitions, args.fetch_wait_ms
        )
        # The idle baseline of the whole-worker estimate: a worker of its own group on the
        # still-empty topics. The measured worker below starts with the whole backlog waiting
        # and is never idle (its RSS at "ready" already held fetched records: 58 to 98 MiB).
        idle = start_worker(
            broker.bootstrap, _free_port(), workdir, config, APP_ID + "-idle", embedded=embedded
        )
        try:
            time.sleep(3.0)
            idle_rss = rss_bytes(idle.process.pid)[0]
        finally:
            idle.stop()
        progress(f"idle worker RSS {idle_rss / 2**20:.0f} MiB")
        seconds = produce(broker.bootstrap, topics, records)
        progress(f"produced {len(records):,} events in {seconds:.1f} s")
        names = [topics["telephony"], topics["ticketing"]]
        runs = [ceiling(broker.bootstrap, names, len(records)) for _ in range(2)]
        best = max(runs, key=lambda r: r.get("rate") or 0.0)
        results["ceiling"] = {**best, "runs": [r.get("rate") for r in runs]}
        progress(f"ceiling (plain aiokafka): {best.get('rate') or 0:,.0f} events/s")

        telephony = sum(1 for family, _, _ in records if family == "telephony")
        results["kafka_consumer_perf"] = consumer_performance(
            broker.bootstrap, topics["telephony"], telephony
        )
        perf_rate = results["kafka_consumer_perf"].get("fetch_rate")
        progress(f"Kafka's ConsumerPerformance on {topics['telephony']}: {perf_rate or 0:,.0f}")

        direct = direct_path(broker.bootstrap, names, len(records))
        direct["engine_rate"] = engine_only(records)
        direct["engine_intervals_rate"] = engine_only(records, intervals=True)
        results["direct"] = direct
        progress(
            f"direct path (no Faust plumbing): {direct.get('rate') or 0:,.0f} events/s; "
            f"engine alone {direct['engine_rate']:,.0f} events/s, with the interval tracker "
            f"{direct['engine_intervals_rate']:,.0f}"
        )

        if not args.no_profile:
            # A worker of its own group drains the same topics under py-spy first, so that the
            # measured worker below runs unobserved. Stopped once profiled.
            app_id = APP_ID + "-profile"
            profiled = start_worker(
                broker.bootstrap, _free_port(), workdir, config, app_id, embedded=embedded
            )
            try:
                results["profile"] = profile_drain(
                    profiled,
                    broker.bootstrap,
                    app_id,
                    len(records),
                    args.profile_seconds,
                    workdir / "worker-profile.txt",
                    progress,
                )
            finally:
                profiled.stop()

        # Best of two drains, as the ceiling: each by a worker of its own group from the start
        # of the topics; the second stays up for the freshness run.
        drains = []
        for app_id in (APP_ID + "-first", APP_ID):
            worker = start_worker(
                broker.bootstrap, _free_port(), workdir, config, app_id, embedded=embedded
            )
            ready_rss = rss_bytes(worker.process.pid)[0]
            progress(f"worker ready (pid {worker.process.pid}, RSS {ready_rss / 2**20:.0f} MiB)")
            drains.append(throughput(worker, broker.bootstrap, app_id, len(records), progress))
            progress(f"worker sustained: {drains[-1].get('rate') or 0:,.0f} events/s")
            if app_id != APP_ID:
                worker.stop()
        best = max(drains, key=lambda r: r.get("rate") or 0.0)
        results["worker"] = {**best, "runs": [r.get("rate") for r in drains]}

        # The measured run (its figures are the target's), then, after it, the same load in
        # smaller batches: what a broker's per-batch cost does to freshness (see "Freshness"
        # in the notes).
        freshness_runs = [("freshness", args.load_batch_ms)]
        if args.small_batch_ms and kind == "embedded":  # Tansu's cost per batch (see Noise)
            freshness_runs.append(("freshness_small_batches", args.small_batch_ms))
        for key, batch_ms in freshness_runs:
            progress(
                f"freshness at {args.rate:,.0f} events/s for {args.freshness_seconds:.0f} s, "
                f"the load in {batch_ms} ms batches"
            )
            results[key] = freshness(
                worker,
                broker.bootstrap,
                topics,
                args.rate,
                args.freshness_seconds,
                progress,
                workdir / f"{key}-profile.txt",
                fetch_wait_ms,
                broker.pid,
                batch_ms / 1000,
            )
            latency = results[key]["latency_seconds"]
            progress(
                f"freshness p50 {latency.get('p50', 0) * 1000:.0f} ms, "
                f"p99 {latency.get('p99', 0) * 1000:.0f} ms"
            )
        peak = rss_bytes(worker.process.pid)[1]
        results["memory"] = {"worker_peak_rss_bytes": peak, "worker_idle_rss_bytes": idle_rss}
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
    return results
