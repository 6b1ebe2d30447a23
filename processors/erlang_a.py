"""Erlang A (M/M/N+M: exponential patience): models abandonment, is stable at any load and
predicts the abandonment rate; with infinite patience it *is* Erlang C.

The exact stationary distribution of the birth-death chain (Garnett, Mandelbaum and Reiman
2002), written with the regularised incomplete gamma function (processors/log_space.py), and the
service level within T derived from the tagged caller's position in queue (docs/staffing.md
derives it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from processors.erlang_c import MAX_AGENTS, log_erlang_b
from processors.log_space import EPS, MAX_ITERATIONS, digamma, log1mexp, log_gamma_pq, logaddexp

__all__ = ["ErlangA", "erlang_a", "erlang_a_agents_required"]


@dataclass(frozen=True, slots=True)
class ErlangA:
    """Erlang A (M/M/N+M: exponential patience) figures for ``agents`` agents."""

    agents: int
    load: float
    wait_probability: float
    """P(an arriving call finds all agents busy and queues)."""
    service_level: float
    """P(answered with wait <= T): abandons, even within T, count against (the ``offered``
    service-level variant)."""
    abandon_rate: float
    """P(the caller hangs up before being answered)."""
    asa_seconds: float | None
    """Mean wait of the *answered* calls (as the asa_seconds KPI); None if none is answered."""
    mean_wait_seconds: float
    """Mean time in queue of all calls, answered or not (= abandon_rate x patience)."""
    occupancy: float
    """Carried load / N = A (1 - abandon_rate) / N."""


def erlang_a(
    agents: int,
    arrival_rate: float,
    aht_seconds: float,
    patience_seconds: float,
    threshold_seconds: float,
) -> ErlangA:
    """Erlang A figures; ``arrival_rate`` in calls per second. See docs/staffing.md."""
    _check_erlang_a(agents, arrival_rate, aht_seconds, patience_seconds, threshold_seconds)
    load = arrival_rate * aht_seconds
    if arrival_rate == 0:
        return ErlangA(agents, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    if agents == 0:
        # Nobody answers: every caller waits until their patience runs out.
        return ErlangA(0, load, 1.0, 0.0, 1.0, None, patience_seconds, 1.0)
    parts = _erlang_a_parts(agents, load, arrival_rate, aht_seconds, patience_seconds)
    served_after_wait, served_within = parts.served(threshold_seconds)
    wait_probability = math.exp(parts.log_waiting - parts.log_z)
    abandon = min(1.0, max(0.0, wait_probability - served_after_wait))
    answered = 1.0 - abandon
    wait_answered = _answered_wait_total(parts.x, parts.y, parts.theta, parts.log_z)
    return ErlangA(
        agents=agents,
        load=load,
        wait_probability=wait_probability,
        service_level=parts.service_level(served_within),
        abandon_rate=abandon,
        asa_seconds=wait_answered / answered if answered > 0 else None,
        mean_wait_seconds=abandon * patience_seconds,
        occupancy=min(1.0, load * answered / agents),
    )


@dataclass(frozen=True, slots=True)
class _ErlangAParts:
    """What every Erlang A figure of N agents starts from: masses relative to pi_N (the
    probability of exactly N calls in the system), in logs."""

    x: float
    """N mu / theta."""
    y: float
    """lambda / theta."""
    theta: float
    log_y: float
    log_gamma_x: float
    log_below: float
    """Below N: 1/B - 1 (B = Erlang B with N agents)."""
    log_waiting: float
    """Waiting: sum_k prod_{j<=k} y/(x+j) = x e^y y^-x gamma(x, y)."""
    log_z: float

    def served(self, threshold_seconds: float) -> tuple[float, float]:
        """(P(answered after waiting), P(answered after waiting at most t)): x e^y y^-(x+1)
        Gamma(x+1) P(x+1, y), and the same times [P(x+1, y) - P(x+1, y e^-theta t)] / P(x+1,
        y)."""
        x, y, log_y = self.x, self.y, self.log_y
        log_served = math.log(x) + y - (x + 1.0) * log_y + self.log_gamma_x - self.log_z
        log_p_y, log_q_y = log_gamma_pq(x + 1.0, y)
        log_p_t, log_q_t = log_gamma_pq(x + 1.0, y * math.exp(-self.theta * threshold_seconds))
        # P(a, y) - P(a, z) = Q(a, z) - Q(a, y): take the difference of whichever pair is small
        # (not of two numbers near 1), as first * (1 - second / first), in logs: the prefactor
        # alone can be far beyond the largest double when the probability it multiplies is tiny.
        if log_q_y < math.log(0.5):
            log_within = log_q_t + log1mexp(log_q_y - log_q_t)
        else:
            log_within = log_p_y + log1mexp(log_p_t - log_p_y)
        return math.exp(log_served + log_p_y), math.exp(log_served + log_within)

    def service_level(self, served_within: float) -> float:
        no_wait = math.exp(self.log_below - self.log_z)
        return min(1.0, max(0.0, no_wait + served_within))


def _erlang_a_parts(
    agents: int, load: float, arrival_rate: float, aht_seconds: float, patience_seconds: float
) -> _ErlangAParts:
    theta = 1.0 / patience_seconds
    x = agents * patience_seconds / aht_seconds
    y = arrival_rate * patience_seconds
    log_y = math.log(y)
    log_b = log_erlang_b(agents, load)
    log_below = math.log1p(-math.exp(log_b)) - log_b
    log_gamma_x = math.lgamma(x + 1.0)
    log_p_xy, _ = log_gamma_pq(x, y)
    log_waiting = y - x * log_y + log_gamma_x + log_p_xy
    log_z = logaddexp(log_below, log_waiting)
    return _ErlangAParts(x, y, theta, log_y, log_gamma_x, log_below, log_waiting, log_z)


def _check_erlang_a(
    agents: int,
    arrival_rate: float,
    aht_seconds: float,
    patience_seconds: float,
    threshold_seconds: float,
) -> None:
    if (
        agents < 0
        or arrival_rate < 0
        or aht_seconds <= 0
        or patience_seconds <= 0
        or threshold_seconds < 0
    ):
        raise ValueError("need agents >= 0, arrival rate >= 0, aht, patience > 0, threshold >= 0")


def _erlang_a_service_level(
    agents: int,
    arrival_rate: float,
    aht_seconds: float,
    patience_seconds: float,
    threshold_seconds: float,
) -> float:
    """:func:`erlang_a`'s ``service_level`` alone (the same floats), without the mean wait of
    answered calls: the agents-required search asks only this, a dozen times per queue and
    snapshot."""
    _check_erlang_a(agents, arrival_rate, aht_seconds, patience_seconds, threshold_seconds)
    if arrival_rate == 0:
        return 1.0
    if agents == 0:
        return 0.0
    load = arrival_rate * aht_seconds
    parts = _erlang_a_parts(agents, load, arrival_rate, aht_seconds, patience_seconds)
    return parts.service_level(parts.served(threshold_seconds)[1])


def _answered_wait_total(x: float, y: float, theta: float, log_z: float) -> float:
    """E[wait; answered] = (1/theta) sum_k pi_{N+k} x/(x+k+1) (psi(x+k+2) - psi(x+1)).

    A caller who finds k others waiting is answered with probability x/(x+k+1) and, if so,
    after a mean sum_{i=1..k+1} 1/(theta (x+i)) (docs/staffing.md). The terms are summed in log
    space from a little below the peak of pi_{N+k} (at k ~ y - x, width ~ sqrt(y)) until they no
    longer matter, so the cost is O(sqrt(y)) whatever the load.
    """
    log_y = math.log(y)
    log_gamma_x = math.lgamma(x + 1.0)
    psi_x = digamma(x + 1.0)
    peak = max(0.0, y - x)
    k = max(0, math.floor(peak - 12.0 * math.sqrt(y) - 20.0))
    total = 0.0
    while k < MAX_ITERATIONS:
        log_pi = k * log_y + log_gamma_x - math.lgamma(x + k + 1.0) - log_z
        term = math.exp(log_pi) * x / (x + k + 1.0) * (digamma(x + k + 2.0) - psi_x)
        total += term
        if k > peak and term <= total * EPS:
            break
        k += 1
    return total / theta


def erlang_a_agents_required(
    arrival_rate: float,
    aht_seconds: float,
    patience_seconds: float,
    threshold_seconds: float,
    target: float,
) -> int | None:
    """The fewest agents whose Erlang A service level within T is >= ``target``.

    The service level grows with N, so: double N until it is enough, then bisect
    (about 2 log2 N evaluations). None if more than :data:`MAX_AGENTS` would be needed.
    """
    if not 0 < target < 1:
        raise ValueError("need 0 < target < 1")
    if arrival_rate == 0:
        return 0

    def enough(agents: int) -> bool:
        level = _erlang_a_service_level(
            agents, arrival_rate, aht_seconds, patience_seconds, threshold_seconds
        )
        return level >= target

    low, high = 0, max(1, math.ceil(arrival_rate * aht_seconds))
    while not enough(high):
        if high >= MAX_AGENTS:
            return None
        low, high = high, min(MAX_AGENTS, high * 2)
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return high
