"""``make bench``: the whole benchmark in one run, on Apache Kafka and on the embedded broker
beside it (``--broker``); writes the docs.

Phases (each prints progress lines; the summary table comes at the end). Steps 1-5 run on each
broker in turn, Apache Kafka first (bench/broker_phase.py), with the same simulated events:

1. Simulate realistic traffic for 100 queues (streams/simulator) and pre-produce it.
2. The ceiling: a plain aiokafka consumer reads it all, no processing; then Kafka's own
   consumer benchmark (``ConsumerPerformance``, the Java client) reads the telephony topic.
3. The worker's own per-batch code on a plain consumer, without Faust (bench/direct.py), and
   the KPI engine alone, in process.
4. A real ``ccpulse worker`` of its own consumer group drains the same topics while py-spy
   samples it (the profile in docs/performance.md) and is stopped; then two more, unobserved,
   one after the other, each of its own group, drain them all (the sustained rate: the better
   of the two, as the ceiling's).
5. Freshness under a steady 2,000 events/s, with markers read back from /metrics.
6. Memory: the worker's peak RSS, and the engine's state for 10, 100 and 1,000 queues, and for
   1,000 queues with 10,000 open calls and 100,000 open tickets (bench/memory_probe.py).
7. At scale, on the first broker only (bench/scale_phase.py): the exposition's CPU cost, loop
   stalls with 1,000 queues without and with a full scrape every 5 s, recovery after a
   restart, freshness at 20,000 events/s, the scale-out curve with 1, 2 and 3 workers; then the
   engine's memory for 10,000 queues, 50k open calls and 500k open tickets.

The targets are judged on the first broker measured (Apache Kafka by default); the other's
figures stand beside them. Writes docs/performance.md and docs/performance.json (``--out-dir``).
No figure here is a test assertion.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.broker_phase import measure_on
from bench.brokers_report import BROKER_NAMES, primary_figures
from bench.machine import machine_info
from bench.report import format_table, render_markdown, write_json
from bench.scale_phase import measure_scale
from bench.scale_report import SCALE_MEMORY_CASE, scale_figures
from bench.workload import encode_records, simulated_events
from streams.config import EMBEDDED_FETCH_WAIT_MS

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CASES = ((10, 0, 0), (100, 0, 0), (1000, 0, 0), (1000, 10_000, 100_000))

NOTES = """
## Method

- **Brokers.** Every broker-bound figure is measured twice in the same run, with the same
  simulated events: first on Apache Kafka (the version pinned in deploy/kafka/pom.xml, a
  single-node KRaft broker and controller started by tests/kafka_broker.py, as the test suites
  run it: data on disk in a temp directory, heap at most 320 MB), then on the embedded Tansu
  broker (streams/broker/embedded.py, in memory). Each on a free 127.0.0.1 port, started and
  stopped by
  the benchmark, never both at once. The targets, and every section but "The brokers side by
  side", are Apache Kafka's; the engine's memory is measured once, with no broker. The worker is
  started with `--embedded-broker` (one record per producer batch) on the embedded broker only.
  Topics `bench.telephony` and `bench.ticketing` with 8 partitions each, keyed by queue, as in
  production.
- **Traffic.** The project's simulator (streams/simulator) for 100 queues of mixed size
  (40-240 calls/h, staffed for ~85 % occupancy, 5 time zones, tickets, surveys, moves between
  queues), about 21 hours of event time ending before "now". The same pre-produced topics feed the
  ceiling, the direct path and the worker.
- **Ceiling.** A plain `AIOKafkaConsumer` assigned every partition, `getmany` in a loop, no
  decoding: events / time from the first fetched batch to the last event. Best of two runs.
- **Kafka's ConsumerPerformance.** A second reference: `org.apache.kafka.tools.ConsumerPerformance`
  (what `kafka-consumer-perf-test.sh` runs; the Java client, from the kafka-tools jar of
  deploy/kafka/pom.xml) reads every record of `bench.telephony` from its start (it takes one
  topic), in a group of its own; the figure is its `fetch.nMsg.sec`, which leaves the group's
  join out as the ceiling leaves out the connection. One run, after the ceiling's.
- **Worker throughput.** Best of two runs, as the ceiling: each a real `ccpulse worker`
  process of its own consumer group (default settings: whole fetches,
  batches of up to 5,000 events, no wait, the full KPI set, changelog deltas and snapshots,
  /metrics) started after the topics were filled. Progress is read every 0.25 s: events applied
  from `/metrics?name[]=ccpulse_events_total` (a family that needs no KPI snapshot, so the
  scrape costs the worker next to nothing), and the consumer group's committed offsets (Faust
  commits every second, once the changelog records are written; commits come in bursts). The
  rate is the applied one, taken between 10 % and 90 % of the events, so start-up and the end
  are left out; the committed rate over the same span is shown beside it. While it drains this
  backlog the worker evaluates no alert rule (`alerts.hold_while_behind_events`, docs/alerts.md),
  as it would replaying one after an outage; in the freshness run it evaluates them every
  second.
- **Direct path.** bench/direct.py runs the worker's per-batch code (`decode_batch`, the engine's
  batch apply, the changelog delta encoding) on batches from a plain aiokafka consumer: the same
  work as the worker minus Faust, the changelog send, the timers and the web server.
- **Freshness.** A background process produces simulated events at a steady 2,000 events/s,
  each stamped with the wall clock when sent (simulated and encoded beforehand, sent with
  aiokafka as one record batch per partition every 100 ms, as a producer with
  `linger.ms=100` would batch them: the batches per second are given with the figures; the
  load generator is not what is measured, and sent one by one it took half a core). Markers are
  `call.blocked` events in a queue of their own (`bench-marker`): each adds 1 to
  `ccpulse_window_blocked{queue="bench-marker",window="1h"}`.
  For each marker: note the time, send and flush it, then probe /metrics for that family
  (`?name[]=ccpulse_window_blocked`, which the worker serves as prometheus_client's handlers do)
  every 20 ms after the previous probe's answer until the count includes it. Latency = end of
  that probe - time before the send. The whole page is scraped once per marker, after the
  marker showed, for its duration. Markers follow each other after a random 1-2 s. Freshness
  starts once the worker has drained everything produced before. The broker's and client's own
  share is measured under the same load with a plain aiokafka consumer. Nothing else reads
  from the broker meanwhile: each fetch costs the embedded broker CPU in proportion to the
  record batches the partition holds (see "Noise"). Then the same run again with the load in
  10 ms batches, which shows that cost.
- **Memory.** Worker: VmHWM (peak RSS) from /proc over the whole run. Engine: a fresh process
  (bench/memory_probe.py) applies one hour of simulated traffic for the given number of queues
  plus the open calls (entered, never left) and open tickets (created, never solved), read from
  a second process through a pipe so the simulator's own memory is not counted; the figure is its
  RSS after minus before. The whole-worker estimate adds the RSS of an idle worker (a worker of
  its own group started on the still-empty topics, 3 s after it is ready) and the encoded
  snapshots that the in-memory changelog table keeps.
- **At scale.** On the first broker only (Apache Kafka), on topics of 12 partitions of their
  own: see bench/scale_phase.py's docstring and the "At scale" section above for each figure.
  The state of the 1,000 queues is the simulator's traffic for them (200,000 events by
  default), pre-produced with aiokafka record batches. The 10,000-queue memory case runs as
  the other memory cases, on 0.1 h of traffic (1 h would be 6 million events). The load
  generator simulates at most 300,000 events; a longer load (20,000 events/s) repeats them
  under other queue names, so they are new facts to the worker, never duplicates.
- **Noise.** The machine has 2 cores, and the broker, the worker, the load generator and the
  benchmark share them; other work on the machine at the same time lowers the figures (see the
  load average above). The embedded broker's own CPU use grows with the number of record
  batches its partitions hold: Tansu 0.6.0's in-memory storage answers a fetch that has new
  data by listing every batch stored for that partition (`fetch` in
  tansu-storage/src/dynostore.rs), where Apache Kafka looks the offset up in its index. A
  worker tailing 2,000 events/s sent in 10 ms batches took it from 0.14 of a core on empty
  topics to a whole core within 90 s, the median freshness of the last 20 markers 186 ms
  against 91 ms for the first 8 (measured on this machine); the same load in 100 ms batches,
  after a drain of the 1,000,000 events, from 0.16 to 0.42 of a core.
"""


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the scale phase (bench/scale_phase.py)."""
    parser.add_argument("--scale-queues", type=int, default=1000)
    parser.add_argument(
        "--scale-events",
        type=int,
        default=200_000,
        help="simulated events pre-produced for the scale phase's queues (their state)",
    )
    parser.add_argument("--scale-partitions", type=int, default=12)
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=50.0,
        help="loop stalls: this long without scrapes, then as long with a scrape every interval",
    )
    parser.add_argument("--scrape-interval", type=float, default=5.0)
    parser.add_argument("--rate-20k", type=float, default=20_000.0)
    parser.add_argument(
        "--seconds-20k",
        type=float,
        default=45.0,
        help="freshness at --rate-20k: this long (a marker every 1-2 s after the last was seen; "
        "15 s gave 5 markers, a p99 that moved from 642 to 1,427 ms between runs)",
    )
    parser.add_argument("--scale-out-workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--scale-out-events", type=int, default=100_000)
    parser.add_argument("--scale-out-freshness-seconds", type=float, default=10.0)
    parser.add_argument(
        "--scale-memory-hours",
        type=float,
        default=0.1,
        help="simulated traffic for the 10,000-queue memory case (1 h would be 6M events)",
    )
    parser.add_argument("--no-scale", action="store_true", help="skip the scale phase")


class Progress:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[bench {time.perf_counter() - self.started:6.1f}s] {message}", flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def memory_case(queues: int, open_calls: int, open_tickets: int, hours: float) -> dict[str, Any]:
    """Engine state for one case, in two fresh processes joined by a pipe."""
    module = [sys.executable, "-m", "bench.memory_probe"]
    generator = subprocess.Popen(
        [*module, "generate", str(queues), str(hours), str(open_calls), str(open_tickets)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    applied = subprocess.run(
        [*module, "apply"], cwd=ROOT, stdin=generator.stdout, capture_output=True, check=True
    )
    assert generator.stdout is not None
    generator.stdout.close()
    generator.wait(timeout=60)
    case: dict[str, Any] = json.loads(applied.stdout)
    case.update(open_calls=open_calls, open_tickets=open_tickets, hours=hours)
    return case


def run(args: argparse.Namespace) -> dict[str, Any]:
    progress = Progress()
    results: dict[str, Any] = {"machine": machine_info()}
    progress(f"machine: {results['machine']['cpu_model']}, {results['machine']['cores']} cores")
    workdir = Path(tempfile.mkdtemp(prefix="ccpulse-bench-"))
    topics = {
        "telephony": "bench.telephony",
        "ticketing": "bench.ticketing",
        "alerts": "bench.alerts",
        "deadletter": "bench.deadletter",
    }
    total = args.events
    start = float(int(time.time() - args.history_hours * 3600))
    events = list(itertools.islice(simulated_events(args.queues, start), total))
    newest = events[-1].time.timestamp()
    if newest > time.time():
        raise SystemExit(f"simulated traffic runs past now ({newest}); raise --history-hours")
    records = encode_records(events)
    del events
    mean_bytes = sum(len(value) for _, _, value in records) / len(records)
    results["setup"] = {
        "queues": args.queues,
        "partitions": args.partitions,
        "events": args.events,
        "mean_value_bytes": mean_bytes,
        "freshness_seconds": args.freshness_seconds,
    }
    progress(f"simulated {total:,} events for {args.queues} queues ({mean_bytes:.0f} B each)")

    # Apache Kafka first: the targets are judged on the first broker measured.
    kinds = ["kafka", "embedded"] if args.broker == "both" else [args.broker]
    results["brokers"] = {
        kind: measure_on(kind, args, records, topics, workdir, progress) for kind in kinds
    }
    results.update(primary_figures(results["brokers"], kinds[0]))
    results["setup"].update(results["brokers"][kinds[0]]["setup"])

    cases = []
    for queues, calls, tickets in MEMORY_CASES:
        progress(f"engine memory: {queues} queues, {calls:,} open calls, {tickets:,} open tickets")
        case = memory_case(queues, calls, tickets, args.memory_hours)
        cases.append(case)
        progress(f"  -> {case['state_bytes'] / 2**20:,.0f} MiB ({case['events']:,} events)")
    results["memory"].update(engine=cases, hours=args.memory_hours)
    results["memory"]["drilldown"] = drilldown_case(progress)
    target = cases[-1]
    results["memory"]["worker_estimate_bytes"] = (
        results["memory"]["worker_idle_rss_bytes"]
        + target["state_bytes"]
        + target["encoded_state_bytes"]
    )
    if not args.no_scale:
        # At scale, on the first broker only (the targets' broker): bench/scale_phase.py.
        try:
            scale = measure_scale(kinds[0], args, workdir, progress)
        except Exception as error:  # the figures above are still written
            progress(f"the scale phase failed: {error!r}")
            scale = {"error": repr(error)}
        queues, calls, tickets = SCALE_MEMORY_CASE
        progress(f"engine memory: {queues:,} queues, {calls:,} open calls, {tickets:,} tickets")
        case = memory_case(queues, calls, tickets, args.scale_memory_hours)
        case["worker_estimate_bytes"] = (
            results["memory"]["worker_idle_rss_bytes"]
            + case["state_bytes"]
            + case["encoded_state_bytes"]
        )
        progress(f"  -> {case['state_bytes'] / 2**20:,.0f} MiB ({case['events']:,} events)")
        results.update(scale_figures(scale, case))
        errors = [scale["error"]] if "error" in scale else scale.get("errors", [])
        if errors:
            results["scale_errors"] = errors
        results["exposition_cost"] = scale.get("exposition_cost")
        results["scale_broker"] = BROKER_NAMES[kinds[0]]
        results["scale_partitions"] = args.scale_partitions
    results["duration_seconds"] = progress.elapsed
    return results


def drilldown_case(progress: Any) -> dict[str, Any]:
    """The drill-down of 1,000 queues, full at the default N (bench/drilldown_memory.py)."""
    from bench.drilldown_memory import full_drilldown

    case = full_drilldown(1000)
    progress(f"drill-down, 1,000 queues at N={case['length']}: {case['bytes'] / 2**20:,.1f} MiB")
    return case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    # A million events: at ~100k events/s the worker drains them in about 10 s, so its rate is
    # taken over several of Faust's 1 s commit intervals (300,000 drained in under 4 s).
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--profile-seconds",
        type=float,
        default=6.0,
        help="how long py-spy samples the profiled worker's drain",
    )
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--history-hours", type=float, default=24.0)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--freshness-seconds", type=float, default=90.0)
    parser.add_argument(
        "--load-batch-ms",
        type=int,
        default=100,
        help="the freshness load is sent as one record batch per partition this often",
    )
    parser.add_argument(
        "--small-batch-ms",
        type=int,
        default=10,
        help="after the measured freshness run on the embedded broker, run it again with the "
        "load in batches this often, to show its per-batch cost (0: skip)",
    )
    parser.add_argument("--memory-hours", type=float, default=1.0)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=EMBEDDED_FETCH_WAIT_MS,
        help="the worker's consumer fetch wait (worker.fetch_max_wait_ms; default 100 ms, as "
        "the published figures were measured; the worker's own default is Faust's 1500 ms)",
    )
    parser.add_argument(
        "--producer-batching",
        action="store_true",
        help="on the embedded broker too, start the worker without --embedded-broker (it never "
        "has it on Apache Kafka): its producer batches changelog "
        "records as on Apache Kafka (safe here only because the worker never recovers a table)",
    )
    parser.add_argument(
        "--broker",
        choices=("kafka", "embedded", "both"),
        default="both",
        help="where the broker-bound figures are measured: Apache Kafka (tests/kafka_broker.py), "
        "the embedded broker, or both in one run, Kafka first (the targets are judged on the "
        "first)",
    )
    add_scale_arguments(parser)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    results = run(args)
    print()
    for line in format_table(results):
        print(line)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "performance.md").write_text(render_markdown(results, NOTES))
    write_json(args.out_dir / "performance.json", results)
    print(f"\nwrote {args.out_dir / 'performance.md'} and {args.out_dir / 'performance.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
