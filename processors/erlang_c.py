"""Erlang B and Erlang C (M/M/N, nobody abandons): the industry's standard planning formula.

With arrival rate lambda, mean handle time AHT = 1/mu, offered load A = lambda * AHT, N agents
and threshold T (docs/staffing.md): Erlang B by the recursion 1/B(n) = 1 + n / (A B(n-1)) kept
in log space (no factorials, no overflow or underflow for any N); Erlang C:
C = N B / (N - A (1 - B)) for N > A; SL = 1 - C exp(-(N - A) T / AHT); ASA = C AHT / (N - A).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "MAX_AGENTS",
    "ErlangC",
    "erlang_b",
    "erlang_c",
    "erlang_c_agents_required",
    "log_erlang_b",
]

MAX_AGENTS = 100_000
"""Searches for agents required give up (``None``) beyond this many agents."""


def log_erlang_b(agents: int, load: float) -> float:
    """ln B(agents, load) by the Erlang B recursion B(n) = A B(n-1) / (n + A B(n-1)), in logs.

    B(n) can be far below the smallest double (A = 1, N = 500: about 1e-1134); its logarithm
    never is, and the recursion only ever adds positive numbers, so it is stable.
    """
    log_b = 0.0
    log_load = math.log(load)
    for n in range(1, agents + 1):
        log_b = log_load + log_b - math.log(n + load * math.exp(log_b))
    return log_b


def erlang_b(agents: int, load: float) -> float:
    """Erlang B: the probability that a call finds all ``agents`` busy, without a queue."""
    if agents < 0 or load < 0:
        raise ValueError("agents and load must be >= 0")
    if load == 0:
        return 0.0 if agents > 0 else 1.0
    return math.exp(log_erlang_b(agents, load))


@dataclass(frozen=True, slots=True)
class ErlangC:
    """Erlang C (M/M/N, nobody abandons) figures for ``agents`` agents."""

    agents: int
    load: float
    """Offered load A = arrival rate x AHT, in Erlangs."""
    wait_probability: float
    """C: the probability that a call has to wait (1 when N <= A: the queue grows forever)."""
    service_level: float
    """P(wait <= T) = 1 - C exp(-(N - A) T / AHT); 0 when N <= A."""
    asa_seconds: float | None
    """Mean wait of all calls = C AHT / (N - A); None (infinite) when N <= A."""
    occupancy: float
    """A / N, capped at 1."""


def erlang_c(agents: int, load: float, aht_seconds: float, threshold_seconds: float) -> ErlangC:
    """Erlang C figures for ``agents`` agents offered ``load`` Erlangs."""
    if agents < 0 or load < 0 or aht_seconds <= 0 or threshold_seconds < 0:
        raise ValueError("need agents >= 0, load >= 0, aht > 0, threshold >= 0")
    occupancy = min(1.0, load / agents) if agents else 1.0
    if load == 0:
        return ErlangC(agents, load, 0.0, 1.0, 0.0, 0.0 if agents else 1.0)
    if agents <= load:
        return ErlangC(agents, load, 1.0, 0.0, None, occupancy)
    return _erlang_c_from_b(
        agents, load, aht_seconds, threshold_seconds, log_erlang_b(agents, load)
    )


def _erlang_c_from_b(
    agents: int, load: float, aht: float, threshold: float, log_b: float
) -> ErlangC:
    b = math.exp(log_b)
    c = agents * b / (agents - load * (1.0 - b))
    gap = agents - load
    service_level = 1.0 - c * math.exp(-gap * threshold / aht)
    return ErlangC(agents, load, c, service_level, c * aht / gap, load / agents)


def erlang_c_agents_required(
    load: float, aht_seconds: float, threshold_seconds: float, target: float
) -> int | None:
    """The fewest agents whose Erlang C service level within T is >= ``target``.

    Walks N upwards from the first stable N (> A), carrying Erlang B along the recursion, so the
    whole search costs O(N). None if more than :data:`MAX_AGENTS` would be needed.
    """
    if not 0 < target < 1 or load < 0 or aht_seconds <= 0 or threshold_seconds < 0:
        raise ValueError("need 0 < target < 1, load >= 0, aht > 0, threshold >= 0")
    if load == 0:
        return 0
    log_load = math.log(load)
    log_b = 0.0
    n = 0
    while n < MAX_AGENTS:
        n += 1
        log_b = log_load + log_b - math.log(n + load * math.exp(log_b))
        if n <= load:
            continue
        figures = _erlang_c_from_b(n, load, aht_seconds, threshold_seconds, log_b)
        if figures.service_level >= target:
            return n
    return None
