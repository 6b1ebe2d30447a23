"""Special functions in log space for the staffing models (processors/erlang_a.py): the
regularised incomplete gamma functions (series / Lentz continued fraction), the digamma
function, and the log-space helpers that keep every quantity finite for hundreds of agents."""

from __future__ import annotations

import math

__all__ = ["EPS", "MAX_ITERATIONS", "digamma", "log1mexp", "log_gamma_pq", "logaddexp"]

EPS = 1e-16
_TINY = 1e-300
MAX_ITERATIONS = 10_000_000


def log_gamma_pq(a: float, z: float) -> tuple[float, float]:
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
        for _ in range(MAX_ITERATIONS):
            denominator += 1.0
            term *= z / denominator
            total += term
            if term < total * EPS:
                break
        log_p = log_prefix + math.log(total)
        p = math.exp(log_p)
        return log_p, (math.log1p(-p) if p < 1.0 else -math.inf)
    b = z + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, MAX_ITERATIONS):
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
        if abs(delta - 1.0) < EPS:
            break
    log_q = log_prefix + math.log(h)
    q = math.exp(log_q)
    return (math.log1p(-q) if q < 1.0 else -math.inf), log_q


def digamma(x: float) -> float:
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


def log1mexp(log_ratio: float) -> float:
    """ln(1 - e^log_ratio) for log_ratio <= 0 (-inf when the two are equal)."""
    if log_ratio >= 0:
        return -math.inf
    return math.log(-math.expm1(log_ratio))


def logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log1p(math.exp(low - high))
