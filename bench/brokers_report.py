"""The benchmark's figures per broker: which broker the report's headline figures come from,
and both brokers' figures side by side (Apache Kafka and the embedded one, from one run).

Pure functions over the ``brokers`` part of the results dict that bench/run.py fills
(tests/test_bench_helpers.py checks them).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["BROKER_FIGURES", "BROKER_NAMES", "broker_comparison", "broker_lines", "primary_figures"]

BROKER_NAMES = {"kafka": "Apache Kafka", "embedded": "the embedded broker (Tansu)"}
"""How the report names each broker (``--broker`` of bench/run.py)."""

BROKER_FIGURES = (
    "ceiling",
    "kafka_consumer_perf",
    "direct",
    "profile",
    "worker",
    "freshness",
    "freshness_small_batches",
    "memory",
)
"""The figures measured on each broker; the others (engine memory, machine) are broker-free."""


def primary_figures(brokers: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    """The figures of broker ``kind`` as the results' top-level keys (``ceiling``, ``worker``,
    ``freshness``, ``memory``, ...: those the targets are judged on), copied so that what is
    added to them later (the engine's memory) is not written twice in performance.json."""
    figures = brokers[kind]
    return {key: copy.deepcopy(figures[key]) for key in BROKER_FIGURES if key in figures}


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ev/s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f} ms"


def _rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    ceiling = figures.get("ceiling", {}).get("rate")
    perf = figures.get("kafka_consumer_perf", {})
    worker = figures.get("worker", {}).get("rate")
    latency = figures.get("freshness", {}).get("latency_seconds", {})
    peak = figures.get("memory", {}).get("worker_peak_rss_bytes")
    return [
        ("aiokafka ceiling (raw consume, both topics)", _rate(ceiling)),
        (
            f"Kafka's ConsumerPerformance ({perf.get('topic', '?')})",
            # Why it failed is in performance.json; a table cell holds no stack of log lines.
            "failed" if "fetch_rate" not in perf else _rate(perf["fetch_rate"]),
        ),
        ("ccpulse worker, sustained", _rate(worker)),
        ("worker / aiokafka ceiling", f"{worker / ceiling:.1%}" if worker and ceiling else "-"),
        (
            "freshness p50 / p99",
            f"{_ms(latency.get('p50'))} / {_ms(latency.get('p99'))}",
        ),
        ("worker peak RSS", "-" if peak is None else f"{peak / 2**20:,.0f} MiB"),
    ]


def broker_comparison(results: dict[str, Any]) -> list[str]:
    """A markdown section: every broker-bound figure of each broker measured, one column per
    broker, in the order measured (empty when the run has no per-broker figures)."""
    brokers = results.get("brokers") or {}
    if not brokers:
        return []
    kinds = list(brokers)
    columns = [BROKER_NAMES.get(kind, kind) for kind in kinds]
    table = {kind: _rows(brokers[kind]) for kind in kinds}
    out = [
        "",
        "## The brokers side by side, from this run",
        "",
        f"Measured on {', then '.join(columns)}, with the same pre-produced events; the targets "
        f"above and the other sections are from {columns[0]}. Kafka's ConsumerPerformance is "
        "`org.apache.kafka.tools.ConsumerPerformance` (the Java client) reading one topic from "
        "its start, timed without the group's join (`fetch.nMsg.sec`).",
        "",
        "| figure | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for index, (label, _) in enumerate(table[kinds[0]]):
        out.append(f"| {label} | " + " | ".join(table[k][index][1] for k in kinds) + " |")
    return out


def broker_lines(results: dict[str, Any]) -> list[str]:
    """The same figures for the printed summary, one block per broker."""
    out: list[str] = []
    for kind, figures in (results.get("brokers") or {}).items():
        out.append(f"{BROKER_NAMES.get(kind, kind)}:")
        rows = _rows(figures)
        width = max(len(label) for label, _ in rows)
        out += [f"  {label:<{width}}  {value}" for label, value in rows]
    return out
