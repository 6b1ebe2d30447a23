"""Turning benchmark results into the printed table, docs/performance.md and the JSON file.

Pure functions over the results dict that bench/run.py fills, so the report can be tested
without running a benchmark (tests/test_bench_helpers.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.brokers_report import broker_comparison, broker_lines
from bench.scale_report import scale_markdown, scale_rows, scale_targets

__all__ = [
    "analysis",
    "evaluate_targets",
    "format_table",
    "idle_share",
    "profile_split",
    "render_markdown",
    "write_json",
]

MB = 1024 * 1024
"""Sizes are printed in MiB (2**20 bytes), the unit RSS tools use."""
TARGET_MEMORY_BYTES = 300 * 1000 * 1000
"""The issue's "300 MB", read in decimal units (about 286 MiB): the stricter reading."""
TARGET_THROUGHPUT_SHARE = 0.5
"""Issue 24: the worker's rate >= 50 % of the aiokafka ceiling of the same run."""
TARGET_FRESHNESS_SECONDS = 0.25
"""Issue 24: freshness p99 <= 250 ms at 2,000 events/s."""

# Where a sampled frame's code lives, by path fragment: the share of worker time spent in
# Faust and the libraries versus ccpulse's own code.
_OWNERS = (
    ("processors/", "ccpulse engine (processors/)"),
    ("streams/", "ccpulse glue (streams/)"),
    ("faust/", "Faust"),
    ("mode/", "Faust (mode)"),
    ("aiokafka/", "aiokafka"),
    ("kafka/", "aiokafka"),
    ("asyncio/", "asyncio event loop"),
    ("prometheus_client/", "prometheus_client"),
    ("msgspec", "msgspec"),
)


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:,.0f} MiB"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ev/s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f} ms"


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets, each with the measured figure and whether it is met: throughput and
    freshness at issue 24's levels, memory at issue 7's, then issue 24's scale targets
    (bench/scale_report.py) for those measured."""
    targets: list[dict[str, Any]] = []
    ceiling = results.get("ceiling", {}).get("rate")
    worker = results.get("worker", {}).get("rate")
    ratio = worker / ceiling if worker and ceiling else None
    targets.append(
        {
            "key": "throughput",
            "name": "throughput / aiokafka ceiling",
            "target": ">= 50 %",
            "measured": "-"
            if ratio is None
            else f"{ratio:.1%} ({_rate(worker)} / {_rate(ceiling)})",
            "value": ratio,
            "met": ratio is not None and ratio >= TARGET_THROUGHPUT_SHARE,
        }
    )
    p99 = results.get("freshness", {}).get("latency_seconds", {}).get("p99")
    rate = results.get("freshness", {}).get("background_rate")
    targets.append(
        {
            "key": "freshness",
            "name": f"freshness p99 at {rate or 2000:,.0f} ev/s",
            "target": "<= 250 ms",
            "measured": _ms(p99),
            "value": p99,
            "met": p99 is not None and p99 <= TARGET_FRESHNESS_SECONDS,
        }
    )
    target_case = next(
        (
            case
            for case in results.get("memory", {}).get("engine", [])
            if case.get("queues") == 1000 and case.get("open_tickets", 0) >= 100_000
        ),
        None,
    )
    estimate = results.get("memory", {}).get("worker_estimate_bytes")
    engine = target_case.get("state_bytes") if target_case else None
    targets.append(
        {
            "key": "memory",
            "name": "memory, 1,000 queues + 10k open calls + 100k open tickets",
            "target": "< 300 MB",
            "measured": f"engine state {_mb(engine)}; whole worker (estimate) {_mb(estimate)}"
            + ("" if estimate is None else f" = {estimate / 1e6:,.0f} MB"),
            "value": estimate,
            "met": estimate is not None and estimate < TARGET_MEMORY_BYTES,
        }
    )
    return targets + scale_targets(results)


def profile_split(profile: dict[str, Any] | None) -> list[tuple[str, float]]:
    """Self time of the profile's busiest frames grouped by owner (Faust, ccpulse, ...)."""
    if not profile or not profile.get("self"):
        return []
    groups: dict[str, float] = {}
    for frame, share in profile.get("all_self", profile["self"]):
        owner = next((name for part, name in _OWNERS if part in frame), "other")
        groups[owner] = groups.get(owner, 0.0) + share
    return sorted(groups.items(), key=lambda item: -item[1])


def idle_share(profile: dict[str, Any] | None) -> float | None:
    """Share of samples whose top frame is the event loop's ``select`` (an idle thread), from a
    profile recorded with py-spy's ``--idle``."""
    if not profile or not profile.get("samples"):
        return None
    return sum(
        share for frame, share in profile.get("all_self", []) if "select (selectors" in frame
    )


def format_table(results: dict[str, Any]) -> list[str]:
    """The summary printed at the end of ``make bench``."""
    ceiling = results.get("ceiling", {})
    worker = results.get("worker", {})
    fresh = results.get("freshness", {})
    latency = fresh.get("latency_seconds", {})
    memory = results.get("memory", {})
    rows = [
        ("aiokafka ceiling (raw consume)", _rate(ceiling.get("rate"))),
        (
            "Kafka's ConsumerPerformance (one topic)",
            _rate(results.get("kafka_consumer_perf", {}).get("fetch_rate")),
        ),
        ("ccpulse worker, sustained", _rate(worker.get("rate"))),
        ("ccpulse path without Faust plumbing", _rate(results.get("direct", {}).get("rate"))),
        ("freshness p50 / p99", f"{_ms(latency.get('p50'))} / {_ms(latency.get('p99'))}"),
        ("  one /metrics scrape p50", _ms(fresh.get("scrape_seconds", {}).get("p50"))),
    ]
    small = results.get("freshness_small_batches")
    if small:
        small_latency = small.get("latency_seconds", {})
        rows.append(
            (
                f"  again, load in {small.get('load_batch_ms', '?')} ms batches",
                f"{_ms(small_latency.get('p50'))} / {_ms(small_latency.get('p99'))}",
            )
        )
    rows += [
        ("worker peak RSS (whole run)", _mb(memory.get("worker_peak_rss_bytes"))),
        *scale_rows(results),
    ]
    for case in memory.get("engine", []):
        rows.append(
            (
                f"engine state {case['queues']:,} queues, {case['open_calls']:,} open calls, "
                f"{case['open_tickets']:,} open tickets",
                _mb(case.get("state_bytes")),
            )
        )
    drill = memory.get("drilldown")
    if drill:
        rows.append((_drilldown_label(drill), _mb(drill.get("bytes"))))
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
    broker = _broker(results)
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
        f"| plain aiokafka consumer, no processing (the ceiling) | {_rate(ceiling.get('rate'))} "
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
        out.append(f"| {label} | {_rate(figure)} | {share} |")
    runs = " and ".join(
        f"{_rate(c)} / {_rate(w)}"
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
        f"records are written), the same span gives {_rate(worker.get('committed_rate'))}.",
        "",
        "## Freshness: event produced -> visible on /metrics",
        "",
        f"Under a steady {fresh.get('background_rate', 0):,.0f} events/s of simulated traffic"
        f"{_load_shape(fresh)}, "
        f"{fresh.get('markers', 0)} markers ({fresh.get('missed', 0)} not seen within 10 s; "
        f"{fresh.get('scrapes_without_marker_series', 0)} scrapes lacked the marker's series):",
        "",
        "| | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|",
        f"| visible on /metrics | {_ms(latency.get('p50'))} | {_ms(latency.get('p90'))} | "
        f"{_ms(latency.get('p99'))} | {_ms(latency.get('max'))} |",
        f"| one probe (`/metrics?name[]=...`) | {_ms(probe.get('p50'))} | "
        f"{_ms(probe.get('p90'))} | {_ms(probe.get('p99'))} | {_ms(probe.get('max'))} |",
        f"| one whole /metrics page | {_ms(scrape.get('p50'))} | {_ms(scrape.get('p90'))} | "
        f"{_ms(scrape.get('p99'))} | {_ms(scrape.get('max'))} |",
        "",
        "Broker and client alone under the same load (a plain aiokafka consumer, "
        f"`fetch_max_wait_ms={fresh.get('broker_roundtrip_fetch_wait_ms', 1500)}` as the "
        "worker's): p50 "
        f"{_ms(fresh.get('broker_roundtrip_seconds', {}).get('p50'))}, p99 "
        f"{_ms(fresh.get('broker_roundtrip_seconds', {}).get('p99'))}. The worker's own "
        "`ccpulse_consumer_lag` (summed over partitions) when each marker showed: median "
        f"{fresh.get('consumer_lag', {}).get('p50', 0):,.0f}, max "
        f"{fresh.get('consumer_lag', {}).get('max', 0):,.0f} events." + _cores(fresh, broker),
        *_small_batches(results, broker),
        "",
        "## Memory",
        "",
        f"- Worker peak RSS over the whole run (VmHWM): "
        f"**{_mb(memory.get('worker_peak_rss_bytes'))}**; "
        "RSS of an idle worker (its own group, on the still-empty topics, 3 s after ready): "
        f"{_mb(memory.get('worker_idle_rss_bytes'))}.",
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
            f"{case.get('events', 0):,} | {_mb(case.get('state_bytes'))} | "
            f"{_mb(case.get('encoded_state_bytes'))} | {case.get('panes', 0):,} |"
        )
    drill = memory.get("drilldown")
    if drill:
        out += [
            "",
            f"{_drilldown_label(drill)} (bench/drilldown_memory.py: every list full, "
            f"{drill['waiting_per_queue']} calls waiting and {drill['agents_per_queue']} agents "
            f"per queue; `sys.getsizeof`, approximate): **{_mb(drill.get('bytes'))}**, "
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
            out.append(f"| {name.replace('_', ' ')} | {_mb(size)} | {size / total:.0%} |")
    if memory.get("worker_estimate_bytes"):
        out += [
            "",
            "Whole-worker estimate for the target case = idle worker RSS + engine state + the "
            "encoded snapshots the in-memory changelog table holds: "
            f"**{_mb(memory.get('worker_estimate_bytes'))}**.",
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


def _broker(results: dict[str, Any]) -> str:
    """The broker the headline figures come from, as a sentence names it (runs from before
    Apache Kafka was measured have no name: they ran on the embedded broker)."""
    return results.get("setup", {}).get("broker") or "the embedded broker"


def _cores(fresh: dict[str, Any], broker: str = "the embedded broker") -> str:
    """CPU used by the worker and the broker during the freshness run (a sentence)."""
    cores = fresh.get("cores_used") or {}
    if "worker" not in cores or "broker" not in cores:
        return ""
    embedded = "embedded" in broker
    text = (
        f" Over the markers' span the worker used {cores['worker']:.2f} of a core and "
        f"{broker} {cores['broker']:.2f}"
        + (
            " (its cost grows with the record batches its topics hold: see Noise)."
            if embedded
            else "."
        )
    )
    halves = fresh.get("halves_p50_seconds") or []
    if len(halves) == 2 and None not in halves:
        text += (
            f" Median latency of the first half of the markers: {_ms(halves[0])}; of the "
            f"second half: {_ms(halves[1])}."
        )
    return text


def _load_shape(fresh: dict[str, Any]) -> str:
    """How the background load was batched (a clause; empty for runs that did not record it)."""
    if "load_batch_ms" not in fresh:
        return ""
    return (
        f" (one record batch per partition every {fresh['load_batch_ms']} ms: "
        f"{fresh.get('load_batches_per_second', 0):,.0f} batches/s)"
    )


def _small_batches(results: dict[str, Any], broker: str = "the embedded broker") -> list[str]:
    """The second freshness run, with the load in smaller batches (a paragraph; empty if the
    run had none): what a broker's per-batch fetch cost does to the same worker (the embedded
    broker's grows with the batches a partition holds)."""
    small = results.get("freshness_small_batches")
    if not small:
        return []
    latency = small.get("latency_seconds", {})
    main_rate = results.get("freshness", {}).get("load_batches_per_second")
    small_rate = small.get("load_batches_per_second")
    times = (
        f"{small_rate / main_rate:.1f} times the batches per second"
        if main_rate and small_rate
        else "more batches"
    )
    return [
        "",
        f"**The same load in smaller batches**, run after the one above on the same worker and "
        f"broker{_load_shape(small)}: {small.get('markers', 0)} markers "
        f"({small.get('missed', 0)} not seen within 10 s), p50 {_ms(latency.get('p50'))}, p90 "
        f"{_ms(latency.get('p90'))}, p99 {_ms(latency.get('p99'))}, max "
        f"{_ms(latency.get('max'))}." + _cores(small, broker) + _tansu_cost(broker, times),
    ]


def _tansu_cost(broker: str, times: str) -> str:
    """Why smaller batches slow the embedded broker down (a sentence; only for that broker)."""
    text = " The targets are read from the run above."
    if "embedded" not in broker:
        return text
    return (
        " The embedded broker answers a fetch that has new data by listing every record batch "
        f"its partition holds, so with {times} its cost per fetch grows that much faster; this "
        "is a limit of the embedded broker, not of the worker (Apache Kafka looks the offset up "
        "in its index)." + text
    )


def _worst_pairing(results: dict[str, Any]) -> str:
    """The ratio at its least favourable within the run: the slower worker run against the
    faster ceiling run (a sentence; empty without both runs' figures)."""
    ceilings = [r for r in results.get("ceiling", {}).get("runs", []) if r]
    workers = [r for r in results.get("worker", {}).get("runs", []) if r]
    if not ceilings or not workers:
        return ""
    return (
        f" The slower worker run against the faster ceiling run gives "
        f"{min(workers) / max(ceilings):.1%}."
    )


def analysis(results: dict[str, Any]) -> list[str]:
    """What the figures of this run say about each target: the parts of the throughput and of
    the freshness, and, for a target not met, where the time goes. Built from the run's own
    numbers so it cannot drift from them."""
    targets = {t["key"]: t for t in evaluate_targets(results)}
    ceiling = results.get("ceiling", {}).get("rate")
    worker = results.get("worker", {}).get("rate")
    direct = results.get("direct", {})
    split = dict(profile_split(results.get("profile")))
    out = ["", "## Reading the figures", ""]
    if ceiling and worker:
        faust = sum(v for k, v in split.items() if k.startswith(("Faust", "asyncio", "aiokafka")))
        ours = sum(v for k, v in split.items() if k.startswith("ccpulse"))
        verdict = "meets" if targets["throughput"]["met"] else "does not meet"
        out += [
            f"**Throughput** ({verdict} the target). The worker reaches {worker / ceiling:.1%} of "
            "the ceiling. The same per-batch code fed by a plain aiokafka consumer (the direct "
            f"path: no Faust, no changelog send, no timers) reaches {_rate(direct.get('rate'))} "
            f"({(direct.get('rate') or 0) / ceiling:.1%}), and the engine alone "
            f"{_rate(direct.get('engine_rate'))}."
            + (
                f" In the profile, {faust:.0%} of the worker's samples are in Faust, mode, "
                f"aiokafka (decoding the fetched records, as the ceiling's consumer does) and the "
                f"asyncio loop, {ours:.0%} in ccpulse's own code."
                if split
                else ""
            )
            + " The ceiling is that consumer alone on an otherwise idle broker; the worker also "
            "writes its changelog, which the same broker takes on the same two cores. Both vary "
            "from run to run on this machine (see Noise); the ratio is taken within one run."
            + _worst_pairing(results),
            "",
        ]
    fresh = results.get("freshness", {})
    latency = fresh.get("latency_seconds", {})
    if latency:
        probe = fresh.get("probe_seconds", {})
        roundtrip = fresh.get("broker_roundtrip_seconds", {})
        idle = idle_share(fresh.get("profile"))
        wait = results.get("setup", {}).get("worker_fetch_wait_ms", 1500)
        verdict = "meets" if targets["freshness"]["met"] else "does not meet"
        out += [
            f"**Freshness** ({verdict} the target). A marker showed on /metrics "
            f"{_ms(latency.get('p50'))} after it was sent (p99 {_ms(latency.get('p99'))}). Its "
            f"parts: the broker and a plain client deliver a record in "
            f"{_ms(roundtrip.get('p50'))} (p99 {_ms(roundtrip.get('p99'))}); the worker's "
            f"consumer lets the broker hold a fetch for up to {wait} ms "
            "(`worker.fetch_max_wait_ms`); the batch is applied at once (its changelog records "
            "are written afterwards, and only the commit of its offsets waits for them); then "
            "the next probe that computes the marker's queue shows it: one probe took "
            f"{_ms(probe.get('p50'))} (p99 {_ms(probe.get('p99'))}), nearly all of it the "
            "snapshots of the queues changed since the last read (at 2,000 events/s, every "
            "queue), computed a few queues at a time so the batches keep being applied."
            + (
                f" The worker's main thread was idle {idle:.0%} of the time."
                if idle is not None
                else ""
            ),
            "",
        ]
    if not targets["memory"]["met"]:
        memory = results.get("memory", {})
        idle = memory.get("worker_idle_rss_bytes")
        out += [
            "**Memory** (does not meet the target). For the target case the engine state is "
            f"{targets['memory']['measured'].split(';')[0].removeprefix('engine state ')}; "
            "the whole-worker estimate adds the idle worker's own baseline (Faust, aiokafka, "
            f"aiohttp and the imported libraries: {_mb(idle)} here) and the compressed "
            "snapshots the in-memory changelog table keeps. The goal is read in decimal "
            "megabytes (300 MB = 286 MiB). The breakdown above says which parts are largest.",
            "",
        ]
    return out if len(out) > 3 else []


def _drilldown_label(drill: dict[str, Any]) -> str:
    return f"drill-down state, {drill['queues']:,} queues at N={drill['length']}"
