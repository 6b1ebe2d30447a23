"""Staffing maths: Erlang C and Erlang A, numerically stable for hundreds of agents.

Why both: Erlang C (M/M/N) is the industry's standard planning formula, but it assumes nobody
ever hangs up, so it over-staffs a queue whose callers abandon and has no answer at all when the
load exceeds the agents. Erlang A (M/M/N+M: exponential patience) models abandonment, is stable
at any load and predicts the abandonment rate; with infinite patience it *is* Erlang C.

Formulas and references are in docs/staffing.md. In short, with arrival rate lambda, mean
handle time AHT = 1/mu, offered load A = lambda * AHT, N agents, threshold T, mean patience
1/theta:

* Erlang B by the recursion 1/B(n) = 1 + n / (A B(n-1)) kept in log space (no factorials, no
  overflow or underflow for any N); Erlang C: C = N B / (N - A (1 - B)) for N > A;
  SL = 1 - C exp(-(N - A) T / AHT); ASA = C AHT / (N - A).
* Erlang A with the exact stationary distribution of the birth-death chain (Garnett,
  Mandelbaum and Reiman 2002), written with the regularised incomplete gamma function
  (series / Lentz continued fraction, in log space), and the service level within T derived
  from the tagged caller's position in queue (docs/staffing.md derives it).

Everything here is pure: numbers in, numbers out. ``None`` means "no answer": too little input,
or a quantity that is infinite (the ASA of an overloaded queue without abandonment).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import msgspec

from processors.settings import QueueSettings
from processors.snapshot import STAFFING_FIELDS, StaffingKpis, WindowKpis

__all__ = [
    "STAFFING_FIELDS",
    "ErlangA",
    "ErlangC",
    "StaffingFigures",
    "StaffingInputs",
    "erlang_a",
    "erlang_a_agents_required",
    "erlang_b",
    "erlang_c",
    "erlang_c_agents_required",
    "staffing_figures",
    "staffing_inputs",
]


MAX_AGENTS = 100_000
"""Searches for agents required give up (``None``) beyond this many agents."""

_EPS = 1e-16
_TINY = 1e-300
_MAX_ITERATIONS = 10_000_000


# -- special functions ------------------------------------------------------------------------


def _log_erlang_b(agents: int, load: float) -> float:
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
    return math.exp(_log_erlang_b(agents, load))


def _log_gamma_pq(a: float, z: float) -> tuple[float, float]:
    """(ln P(a, z), ln Q(a, z)): the regularised lower and upper incomplete gamma functions.

    The series for z < a + 1 and the modified Lentz continued fraction otherwise (Numerical
    Recipes, 3rd ed., 6.2), each where it converges fast and gives its own result to full
    relative precision; the other one is taken as the complement.
    """
    if z <= 0:
        return -math.inf, 0.0
    log_prefix = a * math.log(z) - z - math.lgamma(a)  # z^a e^-z / Gamma(a)
    if z < a + 1:
        term = total = 1.0 / a
        denominator = a
        for _ in range(_MAX_ITERATIONS):
            denominator += 1.0
            term *= z / denominator
            total += term
            if term < total * _EPS:
                break
        log_p = log_prefix + math.log(total)
        p = math.exp(log_p)
        return log_p, (math.log1p(-p) if p < 1.0 else -math.inf)
    b = z + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    log_q = log_prefix + math.log(h)
    q = math.exp(log_q)
    return (math.log1p(-q) if q < 1.0 else -math.inf), log_q


def _digamma(x: float) -> float:
    """psi(x) for x > 0: recurrence up to 6, then the asymptotic series."""
    result = 0.0
    while x < 6.0:
        result -= 1.0 / x
        x += 1.0
    inv = 1.0 / (x * x)
    return (
        result
        + math.log(x)
        - 0.5 / x
        - inv * (1.0 / 12 - inv * (1.0 / 120 - inv * (1.0 / 252 - inv * (1.0 / 240))))
    )


def _log1mexp(log_ratio: float) -> float:
    """ln(1 - e^log_ratio) for log_ratio <= 0 (-inf when the two are equal)."""
    if log_ratio >= 0:
        return -math.inf
    return math.log(-math.expm1(log_ratio))


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log1p(math.exp(low - high))


# -- Erlang C ---------------------------------------------------------------------------------


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
        agents, load, aht_seconds, threshold_seconds, _log_erlang_b(agents, load)
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


# -- Erlang A ---------------------------------------------------------------------------------


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
        log_p_y, log_q_y = _log_gamma_pq(x + 1.0, y)
        log_p_t, log_q_t = _log_gamma_pq(x + 1.0, y * math.exp(-self.theta * threshold_seconds))
        # P(a, y) - P(a, z) = Q(a, z) - Q(a, y): take the difference of whichever pair is small
        # (not of two numbers near 1), as first * (1 - second / first), in logs: the prefactor
        # alone can be far beyond the largest double when the probability it multiplies is tiny.
        if log_q_y < math.log(0.5):
            log_within = log_q_t + _log1mexp(log_q_y - log_q_t)
        else:
            log_within = log_p_y + _log1mexp(log_p_t - log_p_y)
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
    log_b = _log_erlang_b(agents, load)
    log_below = math.log1p(-math.exp(log_b)) - log_b
    log_gamma_x = math.lgamma(x + 1.0)
    log_p_xy, _ = _log_gamma_pq(x, y)
    log_waiting = y - x * log_y + log_gamma_x + log_p_xy
    log_z = _logaddexp(log_below, log_waiting)
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
    psi_x = _digamma(x + 1.0)
    peak = max(0.0, y - x)
    k = max(0, math.floor(peak - 12.0 * math.sqrt(y) - 20.0))
    total = 0.0
    while k < _MAX_ITERATIONS:
        log_pi = k * log_y + log_gamma_x - math.lgamma(x + k + 1.0) - log_z
        term = math.exp(log_pi) * x / (x + k + 1.0) * (_digamma(x + k + 2.0) - psi_x)
        total += term
        if k > peak and term <= total * _EPS:
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


# -- live staffing per queue ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffingInputs:
    """What the staffing models need, measured over the staffing window."""

    arrival_rate: float
    """Calls per second: calls entered in the window / window length."""
    aht_seconds: float
    patience_seconds: float | None
    """Mean caller patience (None when nobody abandoned: Erlang A is then Erlang C)."""
    sl_threshold_seconds: float
    sl_target: float
    agents_staffed: int | None
    """Agents logged in now; None when the queue has never reported an agent state."""


class StaffingFigures(StaffingKpis, frozen=True):  # type: ignore[misc]  # msgspec allows it
    """The live staffing figures of one queue (:class:`~processors.snapshot.StaffingKpis`, the
    nullable LiveKpis fields of the same names), and what the predictions are for."""

    model: str | None = None
    """Which model the predictions use: ``erlang_a`` (a patience is known) or ``erlang_c``."""
    agents: int | None = None
    """The agents the predictions are for."""


def staffing_inputs(
    kpis: WindowKpis,
    window_seconds: int,
    settings: QueueSettings,
    agents_staffed: int | None,
) -> StaffingInputs | None:
    """Inputs from a window's KPIs, or None when they are too thin for any staffing figure:
    no call entered, or no handled call (no AHT)."""
    if kpis.entered <= 0 or kpis.aht_seconds is None or kpis.aht_seconds <= 0:
        return None
    patience = kpis.patience_seconds if kpis.abandoned > 0 else None
    return StaffingInputs(
        arrival_rate=kpis.entered / window_seconds,
        aht_seconds=kpis.aht_seconds,
        patience_seconds=patience if patience is not None and patience > 0 else None,
        sl_threshold_seconds=settings.sl_threshold_seconds,
        sl_target=settings.sl_target,
        agents_staffed=agents_staffed,
    )


@functools.lru_cache(maxsize=4096)
def staffing_figures(inputs: StaffingInputs | None, agents: int | None = None) -> StaffingFigures:
    """Agents required (both models), agents short and predictions for ``agents`` (default: the
    agents staffed now). Predictions use Erlang A when a patience is known, else Erlang C (its
    limit for infinite patience); figures that need staffed agents are None when none are
    known.

    Memoised: every snapshot of every queue asks, and the inputs of a queue change only when a
    call enters or leaves its staffing window, while each answer costs a search over agent
    counts (both arguments and the answer are immutable)."""
    if inputs is None:
        return StaffingFigures()
    load = inputs.arrival_rate * inputs.aht_seconds
    t, target = inputs.sl_threshold_seconds, inputs.sl_target
    required_c = erlang_c_agents_required(load, inputs.aht_seconds, t, target)
    required_a = (
        None
        if inputs.patience_seconds is None
        else erlang_a_agents_required(
            inputs.arrival_rate, inputs.aht_seconds, inputs.patience_seconds, t, target
        )
    )
    required = required_a if inputs.patience_seconds is not None else required_c
    n = inputs.agents_staffed if agents is None else agents
    figures = StaffingFigures(
        agents_required_erlang_c=None if required_c is None else float(required_c),
        agents_required_erlang_a=None if required_a is None else float(required_a),
    )
    if n is None:
        return figures
    short = None
    if inputs.agents_staffed is not None and required is not None:
        short = float(required - inputs.agents_staffed)
    if inputs.patience_seconds is not None:
        a = erlang_a(n, inputs.arrival_rate, inputs.aht_seconds, inputs.patience_seconds, t)
        return msgspec.structs.replace(
            figures,
            agents_short=short,
            predicted_service_level=a.service_level,
            predicted_asa_seconds=a.asa_seconds,
            predicted_abandon_rate=a.abandon_rate,
            model="erlang_a",
            agents=n,
        )
    c = erlang_c(n, load, inputs.aht_seconds, t)
    return msgspec.structs.replace(
        figures,
        agents_short=short,
        predicted_service_level=c.service_level,
        predicted_asa_seconds=c.asa_seconds,
        model="erlang_c",
        agents=n,
    )
