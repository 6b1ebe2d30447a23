"""Pure statistics for the benchmark: percentiles, summaries, rates from (time, count) samples.

Kept free of I/O so tests can check them (tests/test_bench_helpers.py) without a broker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile", "rate_between", "summary"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks.

    The same definition as numpy's default ("linear"), so figures can be checked elsewhere.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile out of range: {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def summary(values: Sequence[float]) -> dict[str, float]:
    """count, mean, min, p50, p90, p99, max of ``values``."""
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "mean": sum(values) / len(values),
        "min": min(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def rate_between(
    samples: Sequence[tuple[float, float]], low: float, high: float
) -> tuple[float, float, float] | None:
    """Sustained rate from monotonic ``(time, count)`` samples, between two progress marks.

    Takes the first sample at or above ``low`` and the first at or above ``high`` (counts) and
    returns ``(rate, seconds, counted)``: the start-up before ``low`` and the tail after
    ``high`` are left out, so the figure is the steady state. None when the samples do not
    span both marks with time between them.
    """
    first = next(((t, c) for t, c in samples if c >= low), None)
    last = next(((t, c) for t, c in samples if c >= high), None)
    if first is None or last is None or last[0] <= first[0]:
        return None
    seconds = last[0] - first[0]
    counted = last[1] - first[1]
    return counted / seconds, seconds, counted
