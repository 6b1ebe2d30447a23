"""The closing analysis of docs/performance.md: what the figures of one run say about where
the time goes (cores, load shape, small batches, the embedded broker's cost), written from the
results, never by hand."""

from __future__ import annotations

from typing import Any

from bench.figures import fmt_mb, fmt_ms, fmt_rate, idle_share, profile_split
from bench.targets import evaluate_targets

__all__ = [
    "analysis",
    "broker_name",
    "cores_line",
    "drilldown_label",
    "load_shape",
    "small_batches",
]


def broker_name(results: dict[str, Any]) -> str:
    """The broker the headline figures come from, as a sentence names it (runs from before
    Apache Kafka was measured have no name: they ran on the embedded broker)."""
    return results.get("setup", {}).get("broker") or "the embedded broker"


def cores_line(fresh: dict[str, Any], broker: str = "the embedded broker") -> str:
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
            f" Median latency of the first half of the markers: {fmt_ms(halves[0])}; of the "
            f"second half: {fmt_ms(halves[1])}."
        )
    return text


def load_shape(fresh: dict[str, Any]) -> str:
    """How the background load was batched (a clause; empty for runs that did not record it)."""
    if "load_batch_ms" not in fresh:
        return ""
    return (
        f" (one record batch per partition every {fresh['load_batch_ms']} ms: "
        f"{fresh.get('load_batches_per_second', 0):,.0f} batches/s)"
    )


def small_batches(results: dict[str, Any], broker: str = "the embedded broker") -> list[str]:
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
        f"broker{load_shape(small)}: {small.get('markers', 0)} markers "
        f"({small.get('missed', 0)} not seen within 10 s), p50 {fmt_ms(latency.get('p50'))}, p90 "
        f"{fmt_ms(latency.get('p90'))}, p99 {fmt_ms(latency.get('p99'))}, max "
        f"{fmt_ms(latency.get('max'))}." + cores_line(small, broker) + _tansu_cost(broker, times),
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
            f"path: no Faust, no changelog send, no timers) reaches {fmt_rate(direct.get('rate'))} "
            f"({(direct.get('rate') or 0) / ceiling:.1%}), and the engine alone "
            f"{fmt_rate(direct.get('engine_rate'))}."
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
            f"{fmt_ms(latency.get('p50'))} after it was sent "
            f"(p99 {fmt_ms(latency.get('p99'))}). Its parts: the broker and a plain client "
            "deliver a record in "
            f"{fmt_ms(roundtrip.get('p50'))} (p99 {fmt_ms(roundtrip.get('p99'))}); the worker's "
            f"consumer lets the broker hold a fetch for up to {wait} ms "
            "(`worker.fetch_max_wait_ms`); the batch is applied at once (its changelog records "
            "are written afterwards, and only the commit of its offsets waits for them); then "
            "the next probe that computes the marker's queue shows it: one probe took "
            f"{fmt_ms(probe.get('p50'))} (p99 {fmt_ms(probe.get('p99'))}), nearly all of it the "
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
            f"aiohttp and the imported libraries: {fmt_mb(idle)} here) and the compressed "
            "snapshots the in-memory changelog table keeps. The goal is read in decimal "
            "megabytes (300 MB = 286 MiB). The breakdown above says which parts are largest.",
            "",
        ]
    return out if len(out) > 3 else []


def drilldown_label(drill: dict[str, Any]) -> str:
    return f"drill-down state, {drill['queues']:,} queues at N={drill['length']}"
