"""Turning benchmark results into the printed table, docs/performance.md and the JSON file.

Pure functions over the results dict that bench/run.py fills, so the report can be tested
without running a benchmark (tests/test_bench_helpers.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.brokers_report import broker_comparison, broker_lines
from bench.figures import fmt_mb, fmt_ms, fmt_rate, idle_share, profile_split
from bench.report_analysis import (
    analysis,
    broker_name,
    cores_line,
    drilldown_label,
    load_shape,
    small_batches,
)
from bench.scale_report import scale_markdown, scale_rows
from bench.targets import evaluate_targets

__all__ = [
    "analysis",
    "evaluate_targets",
    "format_table",
    "idle_share",
    "profile_split",
    "render_markdown",
    "write_json",
]


# Where a sampled frame's code lives, by path fragment: the share of worker time spent in
# Faust and the libraries versus ccpulse's own code.


def format_table(results: dict[str, Any]) -> list[str]:
    """The summary printed at the end of ``make bench``."""
    ceiling = results.get("ceiling", {})
    worker = results.get("worker", {})
    fresh = results.get("freshness", {})
    latency = fresh.get("latency_seconds", {})
    memory = results.get("memory", {})
    rows = [
        ("aiokafka ceiling (raw consume)", fmt_rate(ceiling.get("rate"))),
        (
            "Kafka's ConsumerPerformance (one topic)",
            fmt_rate(results.get("kafka_consumer_perf", {}).get("fetch_rate")),
        ),
        ("ccpulse worker, sustained", fmt_rate(worker.get("rate"))),
        ("ccpulse path without Faust plumbing", fmt_rate(results.get("direct", {}).get("rate"))),
        ("freshness p50 / p99", f"{fmt_ms(latency.get('p50'))} / {fmt_ms(latency.get('p99'))}"),
        ("  one /metrics scrape p50", fmt_ms(fresh.get("scrape_seconds", {}).get("p50"))),
    ]
    small = results.get("freshness_small_batches")
    if small:
        small_latency = small.get("latency_seconds", {})
        rows.append(
            (
                f"  again, load in {small.get('load_batch_ms', '?')} ms batches",
                f"{fmt_ms(small_latency.get('p50'))} / {fmt_ms(small_latency.get('p99'))}",
            )
        )
    rows += [
        ("worker peak RSS (whole run)", fmt_mb(memory.get("worker_peak_rss_bytes"))),
        *scale_rows(results),
    ]
    for case in memory.get("engine", []):
        rows.append(
            (
                f"engine state {case['queues']:,} queues, {case['open_calls']:,} open calls, "
                f"{case['open_tickets']:,} open tickets",
                fmt_mb(case.get("state_bytes")),
            )
        )
    drill = memory.get("drilldown")
    if drill:
        rows.append((drilldown_label(drill), fmt_mb(drill.get("bytes"))))
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines.append("")
    per_broker = broker_lines(results)
    if per_broker:
        lines += [*per_broker, ""]
    for target in evaluate_targets(results):
        mark = "MET    " if target["met"] else "NOT MET"
        lines.append(f"{mark} {target['name']} {target['target']}: {target['measured']}")
    return lines


def write_json(path: Path, results: dict[str, Any]) -> None:
    document = {**results, "targets": evaluate_targets(results)}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def _machine_line(machine: dict[str, Any]) -> str:
    memory = machine.get("memory_bytes")
    ram = f"{memory / 1024**3:.1f} GiB RAM" if memory else "RAM unknown"
    return (
        f"{machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores, {ram}, "
        f"Python {machine.get('python', '?')} ({machine.get('platform', '?')}); load average at "
        f"start {machine.get('load_average_at_start')}"
    )


def render_markdown(results: dict[str, Any], notes: str) -> str:
    """docs/performance.md: targets first, then each measurement, the profile, the method."""
    machine = results.get("machine", {})
    setup = results.get("setup", {})
    ceiling = results.get("ceiling", {})
    worker = results.get("worker", {})
    direct = results.get("direct", {})
    fresh = results.get("freshness", {})
    latency = fresh.get("latency_seconds", {})
    scrape = fresh.get("scrape_seconds", {})
    probe = fresh.get("probe_seconds", {})
    memory = results.get("memory", {})
    broker = broker_name(results)
    out = [
        "# Performance",
        "",
        "Written by `make bench` (bench/run.py); the same figures are in "
        "[performance.json](performance.json). Do not edit by hand: run `make bench`.",
        "",
        f"- **Date:** {machine.get('date', '?')}",
        f"- **Machine:** {_machine_line(machine)}",
        f"- **Run:** {results.get('duration_seconds', 0):.0f} s in all; the figures below are from "
        f"{broker} on 127.0.0.1; "
        f"{setup.get('queues', '?')} simulated queues, "
        f"{setup.get('partitions', '?')} partitions per topic, "
        f"{setup.get('events', 0):,} pre-produced events "
        f"({setup.get('mean_value_bytes', 0):.0f} bytes of JSON each on average); worker "
        f"producer: {setup.get('worker_producer', '?')}; worker consumer fetch wait "
        f"(`worker.fetch_max_wait_ms`): {setup.get('worker_fetch_wait_ms', 1500)} ms.",
        "",
        "## Targets (issues 7 and 24), from this run",
        "",
        "| target | goal | measured | |",
        "|---|---|---|---|",
    ]
    for target in evaluate_targets(results):
        out.append(
            f"| {target['name']} | {target['target']} | {target['measured']} | "
            f"{'met' if target['met'] else '**not met**'} |"
        )
    out += [
        "",
        "## Throughput: the ceiling and the worker side by side",
        "",
        "| what | events/s | share of the ceiling |",
        "|---|---|---|",
        f"| plain aiokafka consumer, no processing (the ceiling) | {fmt_rate(ceiling.get('rate'))} "
        "| 100 % |",
    ]
    perf = results.get("kafka_consumer_perf", {})
    for label, figure in (
        (
            f"Kafka's ConsumerPerformance (Java client), topic {perf.get('topic', '?')} only",
            perf.get("fetch_rate"),
        ),
        ("ccpulse worker (Faust), full KPI set", worker.get("rate")),
        ("ccpulse per-batch code on a plain consumer, no Faust (see below)", direct.get("rate")),
        ("KPI engine alone, in process (`KpiEngine.apply_grouped`)", direct.get("engine_rate")),
        (
            "KPI engine and the interval tracker's look after each batch, in process",
            direct.get("engine_intervals_rate"),
        ),
    ):
        share = "-"
        if figure and ceiling.get("rate"):
            share = f"{figure / ceiling['rate']:.1%}"
        out.append(f"| {label} | {fmt_rate(figure)} | {share} |")
    runs = " and ".join(
        f"{fmt_rate(c)} / {fmt_rate(w)}"
        for c, w in zip(ceiling.get("runs", []), worker.get("runs", []), strict=False)
    )
    out += [
        "",
        "The ceiling and the worker are each the better of two runs "
        f"(ceiling / worker, in run order: {runs or '-'}).",
        "",
        f"The worker drained {worker.get('events', 0):,} events in "
        f"{worker.get('first_commit_to_drained_seconds', 0):.1f} s; the sustained rate is taken "
        f"between 10 % and 90 % of them as applied ({worker.get('seconds', 0):.1f} s). "
        "Committed (the group's offsets, which Faust commits once a second, after the changelog "
        f"records are written), the same span gives {fmt_rate(worker.get('committed_rate'))}.",
        "",
        "## Freshness: event produced -> visible on /metrics",
        "",
        f"Under a steady {fresh.get('background_rate', 0):,.0f} events/s of simulated traffic"
        f"{load_shape(fresh)}, "
        f"{fresh.get('markers', 0)} markers ({fresh.get('missed', 0)} not seen within 10 s; "
        f"{fresh.get('scrapes_without_marker_series', 0)} scrapes lacked the marker's series):",
        "",
        "| | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|",
        f"| visible on /metrics | {fmt_ms(latency.get('p50'))} | {fmt_ms(latency.get('p90'))} | "
        f"{fmt_ms(latency.get('p99'))} | {fmt_ms(latency.get('max'))} |",
        f"| one probe (`/metrics?name[]=...`) | {fmt_ms(probe.get('p50'))} | "
        f"{fmt_ms(probe.get('p90'))} | {fmt_ms(probe.get('p99'))} | {fmt_ms(probe.get('max'))} |",
        f"| one whole /metrics page | {fmt_ms(scrape.get('p50'))} | {fmt_ms(scrape.get('p90'))} | "
        f"{fmt_ms(scrape.get('p99'))} | {fmt_ms(scrape.get('max'))} |",
        "",
        "Broker and client alone under the same load (a plain aiokafka consumer, "
        f"`fetch_max_wait_ms={fresh.get('broker_roundtrip_fetch_wait_ms', 1500)}` as the "
        "worker's): p50 "
        f"{fmt_ms(fresh.get('broker_roundtrip_seconds', {}).get('p50'))}, p99 "
        f"{fmt_ms(fresh.get('broker_roundtrip_seconds', {}).get('p99'))}. The worker's own "
        "`ccpulse_consumer_lag` (summed over partitions) when each marker showed: median "
        f"{fresh.get('consumer_lag', {}).get('p50', 0):,.0f}, max "
        f"{fresh.get('consumer_lag', {}).get('max', 0):,.0f} events." + cores_line(fresh, broker),
        *small_batches(results, broker),
        "",
        "## Memory",
        "",
        f"- Worker peak RSS over the whole run (VmHWM): "
        f"**{fmt_mb(memory.get('worker_peak_rss_bytes'))}**; "
        "RSS of an idle worker (its own group, on the still-empty topics, 3 s after ready): "
        f"{fmt_mb(memory.get('worker_idle_rss_bytes'))}.",
        "",
        "Engine state by size (a fresh process applies the simulated traffic of "
        f"{memory.get('hours', 1):g} h, so the 1 h window is full; RSS after - before, "
        "after `gc.collect()`):",
        "",
        "| queues | open calls | open tickets | events applied | engine state (RSS) | "
        "encoded snapshots (zlib MessagePack) | panes |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in memory.get("engine", []):
        out.append(
            f"| {case['queues']:,} | {case['open_calls']:,} | {case['open_tickets']:,} | "
            f"{case.get('events', 0):,} | {fmt_mb(case.get('state_bytes'))} | "
            f"{fmt_mb(case.get('encoded_state_bytes'))} | {case.get('panes', 0):,} |"
        )
    drill = memory.get("drilldown")
    if drill:
        out += [
            "",
            f"{drilldown_label(drill)} (bench/drilldown_memory.py: every list full, "
            f"{drill['waiting_per_queue']} calls waiting and {drill['agents_per_queue']} agents "
            f"per queue; `sys.getsizeof`, approximate): **{fmt_mb(drill.get('bytes'))}**, "
            f"{drill['bytes_per_queue'] / 1024:.1f} kB per queue.",
        ]
    detailed = [case for case in memory.get("engine", []) if case.get("breakdown_bytes")]
    if detailed:
        target_case = detailed[-1]  # the largest case
        parts = target_case["breakdown_bytes"]
        total = sum(parts.values()) or 1
        out += [
            "",
            f"Where the engine's memory goes ({target_case['queues']:,} queues, "
            f"{target_case['open_calls']:,} open calls, {target_case['open_tickets']:,} open "
            "tickets; `sys.getsizeof` of the containers, keys and floats, so approximate):",
            "",
            "| part | size | share |",
            "|---|---|---|",
        ]
        for name, size in sorted(parts.items(), key=lambda item: -item[1]):
            out.append(f"| {name.replace('_', ' ')} | {fmt_mb(size)} | {size / total:.0%} |")
    if memory.get("worker_estimate_bytes"):
        out += [
            "",
            "Whole-worker estimate for the target case = idle worker RSS + engine state + the "
            "encoded snapshots the in-memory changelog table holds: "
            f"**{fmt_mb(memory.get('worker_estimate_bytes'))}**.",
        ]
    profile = results.get("profile")
    if profile and profile.get("samples"):
        out += [
            "",
            "## Where the worker's time goes (py-spy, while a worker drains the topics)",
            "",
            f"{profile['samples']:,} samples over {profile.get('seconds', 0):.0f} s of a worker "
            "of its own consumer group draining the same pre-produced topics as the measured "
            "one (started before it, stopped once profiled). Self time by owner of the code:",
            "",
            "| owner | share of samples |",
            "|---|---|",
        ]
        out += [f"| {owner} | {share:.1%} |" for owner, share in profile_split(profile)]
        out += ["", "Busiest functions (self time):", "", "| function | self |", "|---|---|"]
        out += [f"| `{frame}` | {share:.1%} |" for frame, share in profile["self"]]
        out += ["", "Busiest functions (inclusive):", "", "| function | inclusive |", "|---|---|"]
        out += [f"| `{frame}` | {share:.1%} |" for frame, share in profile["inclusive"]]
    fresh_profile = fresh.get("profile")
    if fresh_profile and fresh_profile.get("samples"):
        out += [
            "",
            "## Where the worker's main thread spends the freshness run (py-spy `--idle`)",
            "",
            f"{fresh_profile['samples']:,} samples of the main thread (the event loop that runs "
            "the agent, the timers and the web server; Faust's consumer has a thread of its "
            f"own); idle (waiting in `select`): {idle_share(fresh_profile) or 0:.0%}.",
            "",
            "| function | inclusive |",
            "|---|---|",
        ]
        out += [f"| `{frame}` | {share:.1%} |" for frame, share in fresh_profile["inclusive"]]
    out += scale_markdown(results)
    out += broker_comparison(results)
    out += analysis(results)
    out += ["", notes.strip(), ""]
    return "\n".join(out)
