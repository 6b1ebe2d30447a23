"""The report of the scale figures (bench/scale_phase.py and the 10,000-queue memory case):
their targets (issue 24), the table rows and the docs/performance.md section.

Pure functions over the results dict, tested in tests/test_bench_scale.py.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SCALE_MEMORY_CASE",
    "scale_figures",
    "scale_markdown",
    "scale_rows",
    "scale_targets",
]

MB = 1024 * 1024
SCALE_MEMORY_CASE = (10_000, 50_000, 500_000)
"""Queues, open calls, open tickets of the memory target at scale."""
TARGET_SCALE_BYTES = 1.5e9
"""The issue's "1.5 GB per worker", in decimal units."""
TARGET_STALL_SECONDS = 0.025
TARGET_SCRAPE_SECONDS = 0.1
TARGET_FRESHNESS_20K_SECONDS = 1.0
TARGET_RECOVERY_SECONDS = 10.0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f} ms"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ev/s"


def scale_figures(scale: dict[str, Any], memory_case: dict[str, Any] | None) -> dict[str, Any]:
    """The top-level keys of performance.json from the scale phase's results and the
    10,000-queue memory case (each absent when not measured)."""
    out: dict[str, Any] = {}
    if "freshness_20k" in scale:
        out["freshness_20k"] = scale["freshness_20k"]
    if "loop_stall" in scale:
        out["loop_stall_p99"] = scale["loop_stall"]
    if "recovery" in scale:
        out["recovery_seconds"] = scale["recovery"]
    if "scale_out" in scale:
        out["scale_out"] = scale["scale_out"]
    if memory_case is not None:
        out["scale_10k_queues"] = memory_case
    return out


def _target(key: str, name: str, goal: str, measured: str, value: Any, met: bool) -> dict[str, Any]:
    return {
        "key": key,
        "name": name,
        "target": goal,
        "measured": measured,
        "value": value,
        "met": met,
    }


def scale_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 24's targets 2 (at 20,000 events/s), 3 and 4, for those measured in ``results``."""
    targets = []
    fresh = results.get("freshness_20k")
    if fresh is not None:
        p99 = fresh.get("latency_seconds", {}).get("p99")
        rate = fresh.get("background_rate", 20_000)
        targets.append(
            _target(
                "freshness_20k",
                f"freshness p99 at {rate:,.0f} ev/s",
                "<= 1 s",
                _ms(p99),
                p99,
                p99 is not None and p99 <= TARGET_FRESHNESS_20K_SECONDS,
            )
        )
    stall = results.get("loop_stall_p99")
    if stall is not None:
        busy = stall.get("with_scrapes", {})
        p99 = busy.get("p99_seconds")
        share = busy.get("share_within_limit")
        # Steady scraping gets the page prepared ahead (streams/views/prepared_page.py); the
        # first scrapes after a start, computed on arrival, are stated beside it.
        prepared = stall.get("scrape_prepared_seconds", {})
        cold = stall.get("scrape_on_request_seconds", {})
        scrape = (prepared if prepared.get("count") else stall.get("scrape_seconds", {})).get("p99")
        targets.append(
            _target(
                "loop_stall_p99",
                "event-loop stall p99, full scrape every "
                f"{stall.get('scrape_interval_seconds', 5):g} s, {stall.get('queues', 0):,} queues",
                "<= 25 ms",
                f"{_ms(p99)} ({share or 0:.1%} of wake-ups within 25 ms)",
                p99,
                share is not None and share >= 0.99,
            )
        )
        targets.append(
            _target(
                "scrape_p99",
                f"full /metrics scrape p99, {stall.get('queues', 0):,} queues",
                "<= 100 ms",
                (
                    f"{_ms(scrape)} over {prepared['count']} scrapes served a prepared page; "
                    f"the {cold.get('count', 0)} computed on arrival (first after the start): "
                    f"max {_ms(cold.get('max'))}"
                    if prepared.get("count")
                    else _ms(scrape)
                ),
                scrape,
                scrape is not None and scrape <= TARGET_SCRAPE_SECONDS,
            )
        )
    case = results.get("scale_10k_queues")
    if case is not None:
        estimate = case.get("worker_estimate_bytes")
        targets.append(
            _target(
                "scale_10k_queues",
                "memory, 10,000 queues + 50k open calls + 500k open tickets",
                "<= 1.5 GB",
                "-" if estimate is None else f"whole worker (estimate) {estimate / 1e6:,.0f} MB",
                estimate,
                estimate is not None and estimate <= TARGET_SCALE_BYTES,
            )
        )
    recovery = results.get("recovery_seconds")
    if recovery is not None:
        seconds = recovery.get("seconds")
        targets.append(
            _target(
                "recovery_seconds",
                f"recovery of {recovery.get('queues', 0):,} queues from the changelog",
                "<= 10 s",
                "-"
                if seconds is None
                else f"{seconds:.1f} s ({_rate(recovery.get('events_per_second'))} recovered)",
                seconds,
                seconds is not None and seconds <= TARGET_RECOVERY_SECONDS,
            )
        )
    return targets


def scale_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows of the summary table printed at the end of ``make bench``."""
    rows = []
    stall = results.get("loop_stall_p99")
    if stall is not None:
        for half in ("without_scrapes", "with_scrapes"):
            figures = stall.get(half, {})
            rows.append(
                (
                    f"loop stall p99, {stall.get('queues', 0):,} queues, {half.replace('_', ' ')}",
                    _ms(figures.get("p99_seconds")),
                )
            )
        rows.append(("  full /metrics scrape p99", _ms(stall.get("scrape_seconds", {}).get("p99"))))
    for point in results.get("scale_out", []):
        rows.append(
            (
                f"scale-out, {point['workers']} worker(s)",
                f"{_rate(point.get('rate'))}, freshness p99 "
                f"{_ms(point.get('freshness_p99_seconds'))}",
            )
        )
    return rows


def _idle(figures: dict[str, Any] | None) -> str:
    if not figures or not figures.get("wakeups"):
        return "-"
    return (
        f"{figures['share_within_limit']:.1%}, {_ms(figures['p99_seconds'])}, "
        f"{_ms(figures['longest_seconds'])}"
    )


def _exposition_cost(cost: dict[str, Any] | None) -> list[str]:
    """The paragraph on bench/exposition_cost.py's figures."""
    if not cost:
        return []
    first = cost.get("first_scrape", {})
    later = cost.get("later_scrapes", [])
    snapshots = sum(s["snapshots"] for s in later) / len(later) if later else None
    return [
        "",
        "**Cost of the Prometheus exposition** (in process, CPU time: bench/exposition_cost.py). "
        f"An engine holding {cost.get('queues', 0):,} queues ({cost.get('series', 0):,} series, "
        f"{cost.get('page_bytes', 0) / MB:,.1f} MiB a page), scraped every "
        f"{cost.get('interval_seconds', 5):g} s with {cost.get('rate', 0):,.0f} events/s "
        f"applied between scrapes: {_ms(cost.get('cpu_seconds_per_scrape'))} of CPU per "
        f"scrape (snapshots {_ms(snapshots)}, page {_ms(cost.get('render_cpu_seconds_per_scrape'))}"
        f"), i.e. **{(cost.get('cpu_seconds_per_event') or 0) * 1e6:,.1f} µs per event**. "
        f"The first scrape (nothing kept yet): snapshots {_ms(first.get('snapshots_cpu_seconds'))}"
        f", page {_ms(first.get('render_cpu_seconds'))}; the same page through "
        "prometheus_client's collectors and `generate_latest` (how /metrics was rendered "
        f"before streams/views/exposition.py): {_ms(first.get('collectors_render_cpu_seconds'))}."
        " The cost is per scrape and per changed queue, not per event: more traffic spreads it "
        "thinner.",
    ]


def scale_markdown(results: dict[str, Any]) -> list[str]:
    """The "At scale" section of docs/performance.md (empty when nothing was measured)."""
    stall = results.get("loop_stall_p99")
    recovery = results.get("recovery_seconds")
    fresh = results.get("freshness_20k")
    curve = results.get("scale_out")
    case = results.get("scale_10k_queues")
    if not any((stall, recovery, fresh, curve, case, results.get("exposition_cost"))):
        return []
    broker = results.get("scale_broker") or results.get("setup", {}).get("broker", "?")
    out = ["", f"## At scale (on {broker}; bench/scale_phase.py)", ""]
    for error in results.get("scale_errors", []):
        out += [f"**Failed in this run:** {error}", ""]
    if stall:
        out += [
            f"### Loop stalls while Prometheus scrapes: {stall.get('queues', 0):,} queues",
            "",
            f"The worker holds {stall.get('queues', 0):,} queues and takes a steady "
            f"{stall.get('rate', 0):,.0f} events/s over them. Its loop-lag probe "
            "(`ccpulse_event_loop_lag_seconds`, streams/worker/loop_lag.py: a wake-up every "
            "50 ms) is read before and after each half: first without any scrape, then with the "
            f"whole /metrics page scraped every {stall.get('scrape_interval_seconds', 5):g} s "
            f"({stall.get('scrape_bytes', 0) / MB:,.1f} MiB a page). p50/p99 are interpolated "
            "inside the histogram's buckets as PromQL's `histogram_quantile` does; the share "
            "within 25 ms is exact (25 ms is a bucket bound). Beside the worker, a process "
            "whose event loop has nothing else to do is probed the same way (every 50 ms): "
            "what the machine alone, the other processes on its cores, does to a loop.",
            "",
            "| | wake-ups | within 25 ms | p50 | p99 | longest (bucket) | worker CPU | events | "
            "idle loop beside it: within 25 ms, p99, longest | garbage collections over 25 ms "
            "(`ccpulse_gc_pause_seconds`) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for half in ("without_scrapes", "with_scrapes"):
            figures = stall.get(half, {})
            share = figures.get("share_within_limit")
            out.append(
                f"| {half.replace('_', ' ')} | {figures.get('wakeups', 0):,.0f} | "
                f"{'-' if share is None else f'{share:.1%}'} | "
                f"{_ms(figures.get('p50_seconds'))} | {_ms(figures.get('p99_seconds'))} | "
                f"<= {_ms(figures.get('longest_at_most_seconds'))} | "
                f"{figures.get('worker_cores', 0):.2f} cores | {figures.get('events', 0):,.0f} | "
                f"{_idle(figures.get('idle_process'))} | {_collections(figures.get('gc'))} |"
            )
        per_event = stall.get("exposition_cpu_seconds_per_event")
        out += [
            "",
            _scrape_sentence(stall) + " The worker's CPU with "
            "scrapes less without, per event applied: "
            + ("-" if per_event is None else f"{per_event * 1e6:,.1f} µs")
            + " (other processes on the machine make this difference noisy; the in-process "
            "figure below is not).",
        ]
    out += _exposition_cost(results.get("exposition_cost"))
    if recovery:
        out += [
            "",
            "### Recovery after a restart",
            "",
            f"The worker above ({recovery.get('queues', 0):,} queues, "
            f"{recovery.get('events_in_state', 0):,.0f} events applied) stopped gracefully "
            "and a new one of the same group started: "
            f"{recovery.get('start_to_ready_seconds', 0):.1f} s from its start to `/ready`, "
            f"of which {recovery.get('empty_start_to_ready_seconds', 0):.1f} s is what a worker "
            "of a new group (nothing to recover) takes on the same broker. Recovery: "
            f"**{recovery.get('seconds', 0):.1f} s**, "
            f"{_rate(recovery.get('events_per_second'))} of events recovered; it read "
            f"{recovery.get('changelog_snapshots', 0):,} state snapshots and replayed "
            f"{recovery.get('changelog_deltas', 0):,} deltas from the changelog.",
        ]
    if fresh:
        latency = fresh.get("latency_seconds", {})
        out += [
            "",
            f"### Freshness at {fresh.get('background_rate', 0):,.0f} events/s",
            "",
            f"The same markers as above, on the worker holding the queues above, under "
            f"{fresh.get('background_rate', 0):,.0f} events/s ({fresh.get('markers', 0)} "
            f"markers, {fresh.get('missed', 0)} not seen within 10 s): p50 "
            f"{_ms(latency.get('p50'))}, p90 {_ms(latency.get('p90'))}, p99 "
            f"**{_ms(latency.get('p99'))}**, max {_ms(latency.get('max'))}; worker's consumer "
            f"lag when a marker showed: median {fresh.get('consumer_lag', {}).get('p50', 0):,.0f}"
            f" events.",
        ]
    if curve:
        out += [
            "",
            "### Scale-out: 1, 2 and 3 worker processes",
            "",
            "Workers of one group on fresh topics of "
            f"{results.get('scale_partitions', 12)} partitions; the backlog is produced once all "
            "are ready (in aiokafka record batches, while they drain it: when the producer's own "
            "rate is the lower, that is what the row measured), and the rate is the sum of their "
            "applied events between 10 % and 90 % of it. Then freshness under the steady load, "
            "read from the worker that owns the marker's queue. On this machine every worker "
            "shares the same 2 cores with the broker and the load generator, so the curve "
            "shows the cost of more processes as much as their gain.",
            "",
            "| workers | events/s | vs 1 worker | producer's own rate | freshness p50 | "
            "freshness p99 |",
            "|---|---|---|---|---|---|",
        ]
        base = curve[0].get("rate") if curve else None
        for point in curve:
            ratio = point.get("rate") / base if base and point.get("rate") else None
            out.append(
                f"| {point['workers']} | {_rate(point.get('rate'))} | "
                f"{'-' if ratio is None else f'{ratio:.2f}x'} | "
                f"{_rate(point.get('producer_rate'))} | "
                f"{_ms(point.get('freshness_p50_seconds'))} | "
                f"{_ms(point.get('freshness_p99_seconds'))} |"
            )
    if case:
        out += [
            "",
            "### Memory at 10,000 queues",
            "",
            f"{case['queues']:,} queues with {case['open_calls']:,} open calls and "
            f"{case['open_tickets']:,} open tickets ({case.get('hours', 0):g} h of simulated "
            f"traffic, {case.get('events', 0):,} events): engine state "
            f"{(case.get('state_bytes') or 0) / MB:,.0f} MiB, encoded snapshots "
            f"{(case.get('encoded_state_bytes') or 0) / MB:,.0f} MiB; whole worker (estimate, "
            f"as above) **{(case.get('worker_estimate_bytes') or 0) / 1e6:,.0f} MB**.",
        ]
    return out


def _collections(gc: dict[str, Any] | None) -> str:
    """Per generation that ran: collections over 25 ms of all, and the longest's bucket."""
    if not gc:
        return "-"
    parts = [
        f"gen {generation}: {figures['over_limit']:,.0f} of {figures['collections']:,.0f}"
        + (
            f" (longest <= {_ms(figures['longest_at_most_seconds'])})"
            if figures.get("longest_at_most_seconds")
            else ""
        )
        for generation, figures in sorted(gc.items())
        if figures.get("collections")
    ]
    return "; ".join(parts) or "none"


def _scrape_sentence(stall: dict[str, Any]) -> str:
    """The full scrapes' answer times, those served a prepared page apart from those computed
    on arrival (streams/views/prepared_page.py)."""
    scrape = stall.get("scrape_seconds", {})
    text = (
        f"One full scrape ({scrape.get('count', 0)} of them): p50 {_ms(scrape.get('p50'))}, "
        f"p99 {_ms(scrape.get('p99'))}, max {_ms(scrape.get('max'))}."
    )
    parts = []
    for key, what in (
        ("scrape_prepared_seconds", "served the KPI families prepared ahead of the scrape"),
        ("scrape_on_request_seconds", "computed them on arrival"),
    ):
        figures = stall.get(key, {})
        if figures.get("count"):
            parts.append(
                f"{figures['count']} {what}: p50 {_ms(figures.get('p50'))}, "
                f"max {_ms(figures.get('max'))}"
            )
    if parts:
        kinds = ", ".join(stall.get("scrape_kinds", []))
        text += f" Of them, {'; '.join(parts)} (in order: {kinds})."
    return text
