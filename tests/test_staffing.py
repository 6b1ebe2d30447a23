"""Erlang C and Erlang A (processors/erlang_c.py, erlang_a.py) against published values, an
independent brute-force sum of the birth-death chain, and a discrete-event simulation of
M/M/N+M."""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

import pytest

from processors.erlang_a import erlang_a, erlang_a_agents_required
from processors.erlang_c import erlang_b, erlang_c, erlang_c_agents_required
from processors.settings import QueueSettings
from processors.snapshot import WindowKpis
from processors.staffing import staffing_figures, staffing_inputs

# -- Erlang C: the published worked example ----------------------------------------------------


def test_ten_erlangs_at_180_seconds_needs_14_agents_for_80_in_20() -> None:
    # 10 Erlangs (200 calls/h x 180 s), 80 % answered within 20 s: the worked example of the
    # Erlang C literature (e.g. callcentrehelper.com's Erlang C formula walkthrough).
    assert erlang_c_agents_required(10.0, 180.0, 20.0, 0.8) == 14
    fourteen = erlang_c(14, 10.0, 180.0, 20.0)
    assert round(100 * fourteen.service_level, 1) == 88.8
    assert round(fourteen.asa_seconds or 0, 1) == 7.8
    assert round(100 * erlang_c(13, 10.0, 180.0, 20.0).service_level, 1) == 79.6


@pytest.mark.parametrize(
    ("agents", "load"),
    # Erlang B tables, 1 % blocking (ITU-T E.501 / any teletraffic handbook): N -> A to 3 places.
    [(10, 4.461), (20, 12.031), (30, 20.337), (50, 37.901), (100, 84.064)],
)
def test_erlang_b_matches_the_published_one_percent_table(agents: int, load: float) -> None:
    assert erlang_b(agents, load) == pytest.approx(0.01, abs=2e-5)


@pytest.mark.parametrize(
    ("agents", "load", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1: C = rho
        (2, 1.0, 1 / 3),
        (3, 2.0, 4 / 9),  # Wolfram ErlangC[3, 2]
        (5, 2.5, 0.1304),  # Erlang C table value
    ],
)
def test_erlang_c_wait_probability_table(agents: int, load: float, expected: float) -> None:
    assert erlang_c(agents, load, 100.0, 20.0).wait_probability == pytest.approx(expected, abs=1e-4)


def test_erlang_c_without_enough_agents_has_no_finite_asa() -> None:
    figures = erlang_c(10, 10.0, 180.0, 20.0)
    assert figures.wait_probability == 1.0
    assert figures.service_level == 0.0
    assert figures.asa_seconds is None


def test_erlang_c_is_stable_for_hundreds_of_agents() -> None:
    # A^N / N! overflows a double from about N = 170; the recursion never forms it.
    required = erlang_c_agents_required(800.0, 300.0, 20.0, 0.8)
    assert required is not None and 800 < required < 900
    figures = erlang_c(required, 800.0, 300.0, 20.0)
    assert 0.8 <= figures.service_level < 1
    assert erlang_c(required - 1, 800.0, 300.0, 20.0).service_level < 0.8
    assert 0.0 <= erlang_b(2000, 10.0) < 1e-300  # true value ~ 10^2000 / 2000!
    assert erlang_c(2000, 10.0, 180.0, 20.0).service_level == pytest.approx(1.0)


# -- Erlang A: exact brute force -----------------------------------------------------------------


def brute_force_erlang_a(
    agents: int, rate: float, aht: float, patience: float, threshold: float
) -> tuple[float, float, float, float]:
    """(P(wait), SL, P(abandon), ASA) by summing the chain directly, state by state.

    Needs x = N patience / AHT integral: a caller who finds k waiting is answered within T with
    probability P(Binomial(x+k+1, 1-exp(-T/patience)) >= k+1) * x/(x+k+1) (docs/staffing.md).
    """
    mu, theta = 1 / aht, 1 / patience
    x = round(agents * patience / aht)
    assert math.isclose(x, agents * patience / aht)
    probs = [1.0]
    for n in range(1, agents + 1):
        probs.append(probs[-1] * rate / (n * mu))
    k = 0
    while True:
        probs.append(probs[-1] * rate / (agents * mu + (k + 1) * theta))
        k += 1
        if k > 50 and probs[-1] < 1e-20 * sum(probs):
            break
    total = sum(probs)
    probs = [p / total for p in probs]
    p = 1 - math.exp(-theta * threshold)
    wait = sum(probs[agents:])
    sl = sum(probs[:agents])
    abandon = 0.0
    answered_wait = 0.0
    for k, pk in enumerate(probs[agents:]):
        answered = x / (x + k + 1)
        n = x + k + 1
        within = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k + 1, n + 1))
        sl += pk * answered * within
        abandon += pk * (1 - answered)
        answered_wait += pk * answered * sum(1 / (theta * (x + i)) for i in range(1, k + 2))
    return wait, sl, abandon, answered_wait / (1 - abandon)


@pytest.mark.parametrize(
    ("agents", "calls_per_hour", "aht", "patience", "threshold"),
    [
        (5, 150.0, 100.0, 60.0, 20.0),  # x = 3
        (10, 200.0, 180.0, 90.0, 20.0),  # x = 5
        (3, 120.0, 120.0, 200.0, 30.0),  # x = 5, overloaded (A = 4 > N = 3)
        (20, 500.0, 150.0, 30.0, 10.0),  # x = 4
    ],
)
def test_erlang_a_equals_the_brute_force_sum(
    agents: int, calls_per_hour: float, aht: float, patience: float, threshold: float
) -> None:
    rate = calls_per_hour / 3600
    figures = erlang_a(agents, rate, aht, patience, threshold)
    wait, sl, abandon, asa = brute_force_erlang_a(agents, rate, aht, patience, threshold)
    assert figures.wait_probability == pytest.approx(wait, rel=1e-9)
    assert figures.service_level == pytest.approx(sl, rel=1e-9)
    assert figures.abandon_rate == pytest.approx(abandon, rel=1e-9)
    assert figures.asa_seconds == pytest.approx(asa, rel=1e-9)
    # Little's law on the queue: abandonment rate = theta x mean queue length.
    assert figures.mean_wait_seconds == pytest.approx(figures.abandon_rate * patience)


def test_erlang_a_with_endless_patience_is_erlang_c() -> None:
    a = erlang_a(14, 10 / 180, 180.0, 1e8, 20.0)
    c = erlang_c(14, 10.0, 180.0, 20.0)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-5)
    assert a.wait_probability == pytest.approx(c.wait_probability, abs=1e-5)
    assert a.asa_seconds == pytest.approx(c.asa_seconds, rel=1e-4)
    assert a.abandon_rate < 1e-6


def test_erlang_a_overloaded_queue_loses_the_excess() -> None:
    # 500 Erlangs on 400 agents: the queue is stable because callers leave, and in the
    # many-server limit the abandonment is the excess load, 1 - 400/500.
    figures = erlang_a(400, 500 / 180, 180.0, 600.0, 20.0)
    assert figures.abandon_rate == pytest.approx(0.2, abs=1e-3)
    assert figures.occupancy == pytest.approx(1.0, abs=1e-6)


def test_erlang_a_is_stable_for_hundreds_of_agents() -> None:
    for agents in (300, 500, 800):
        figures = erlang_a(agents, 500 / 180, 180.0, 300.0, 20.0)
        for value in (figures.wait_probability, figures.service_level, figures.abandon_rate):
            assert 0.0 <= value <= 1.0 and math.isfinite(value)
        assert figures.asa_seconds is not None and math.isfinite(figures.asa_seconds)
    required = erlang_a_agents_required(500 / 180, 180.0, 300.0, 20.0, 0.8)
    assert required is not None
    assert erlang_a(required, 500 / 180, 180.0, 300.0, 20.0).service_level >= 0.8
    assert erlang_a(required - 1, 500 / 180, 180.0, 300.0, 20.0).service_level < 0.8
    # Abandonment relieves the queue: fewer agents than Erlang C asks for.
    required_c = erlang_c_agents_required(500.0, 180.0, 20.0, 0.8)
    assert required_c is not None and required <= required_c


# -- Erlang A against a discrete-event simulation of M/M/N+M --------------------------------------


@dataclass
class Simulated:
    service_level: float
    abandon_rate: float
    asa_seconds: float
    wait_probability: float


def simulate_mmn_m(
    agents: int, rate: float, aht: float, patience: float, threshold: float, calls: int, seed: int
) -> Simulated:
    """FCFS M/M/N+M: each caller is answered by the first agent to come free, if that happens
    before their own (exponential) patience runs out; callers who leave take no agent time.
    The first 10 % of calls warm the system up and are not counted."""
    rng = random.Random(seed)
    free_at = [0.0] * agents  # when each agent next comes free (a heap)
    t = 0.0
    warm = calls // 10
    counted = answered_within = abandoned = waited = answered = 0
    answered_wait = 0.0
    for i in range(calls):
        t += rng.expovariate(rate)
        tolerance = rng.expovariate(1 / patience)
        offered_wait = max(0.0, free_at[0] - t)
        served = offered_wait <= tolerance
        if served:
            heapq.heapreplace(free_at, t + offered_wait + rng.expovariate(1 / aht))
        if i < warm:
            continue
        counted += 1
        waited += offered_wait > 0
        if served:
            answered += 1
            answered_wait += offered_wait
            answered_within += offered_wait <= threshold
        else:
            abandoned += 1
    return Simulated(
        service_level=answered_within / counted,
        abandon_rate=abandoned / counted,
        asa_seconds=answered_wait / answered,
        wait_probability=waited / counted,
    )


@pytest.mark.parametrize(
    ("agents", "calls_per_hour", "aht", "patience", "threshold"),
    [
        (12, 200.0, 180.0, 300.0, 20.0),  # near the Erlang C staffing, mild abandonment
        (9, 200.0, 180.0, 120.0, 20.0),  # understaffed (A = 10 > N = 9): stable only with abandons
        (40, 900.0, 150.0, 60.0, 15.0),  # larger queue, impatient callers
    ],
)
def test_erlang_a_agrees_with_a_simulation(
    agents: int, calls_per_hour: float, aht: float, patience: float, threshold: float
) -> None:
    """Tolerance: 0.015 absolute on probabilities and 7 % on ASA. With 120,000 calls the
    standard error of each proportion is below 0.002 even allowing for the autocorrelation
    of a queue's successive waits, so a formula error of 1.5 points could not hide."""
    rate = calls_per_hour / 3600
    simulated = simulate_mmn_m(agents, rate, aht, patience, threshold, 120_000, seed=agents)
    figures = erlang_a(agents, rate, aht, patience, threshold)
    assert figures.service_level == pytest.approx(simulated.service_level, abs=0.015)
    assert figures.abandon_rate == pytest.approx(simulated.abandon_rate, abs=0.015)
    assert figures.wait_probability == pytest.approx(simulated.wait_probability, abs=0.015)
    assert figures.asa_seconds == pytest.approx(simulated.asa_seconds, rel=0.07)


# -- live staffing inputs ----------------------------------------------------------------------


def window(**fields: object) -> WindowKpis:
    return WindowKpis(**fields)  # type: ignore[arg-type]


def test_too_thin_inputs_give_no_figures() -> None:
    settings = QueueSettings()
    assert staffing_inputs(window(entered=0, aht_seconds=180.0), 900, settings, 5) is None
    assert staffing_inputs(window(entered=40, aht_seconds=None), 900, settings, 5) is None
    figures = staffing_figures(None)
    assert figures.agents_required_erlang_c is None and figures.agents_short is None


def test_no_abandons_means_erlang_c_predictions_and_no_abandon_rate() -> None:
    kpis = window(entered=50, aht_seconds=180.0, abandoned=0, patience_seconds=None)
    inputs = staffing_inputs(kpis, 900, QueueSettings(), 14)
    assert inputs is not None and inputs.patience_seconds is None
    assert inputs.arrival_rate == pytest.approx(50 / 900)
    figures = staffing_figures(inputs)
    assert figures.model == "erlang_c"
    assert figures.agents_required_erlang_c == 14.0  # 50 calls / 15 min x 180 s = 10 Erlangs
    assert figures.agents_required_erlang_a is None
    assert figures.agents_short == 0.0
    assert figures.predicted_service_level == pytest.approx(0.8884, abs=1e-4)
    assert figures.predicted_abandon_rate is None


def test_with_abandons_erlang_a_drives_shortfall_and_predictions() -> None:
    kpis = window(entered=50, aht_seconds=180.0, abandoned=4, patience_seconds=150.0)
    inputs = staffing_inputs(kpis, 900, QueueSettings(sl_threshold_seconds=20.0), 9)
    figures = staffing_figures(inputs)
    expected = erlang_a(9, 50 / 900, 180.0, 150.0, 20.0)
    required = erlang_a_agents_required(50 / 900, 180.0, 150.0, 20.0, 0.8)
    assert figures.model == "erlang_a"
    assert figures.agents_required_erlang_a == required
    assert figures.agents_short == (required or 0) - 9
    assert figures.predicted_service_level == expected.service_level
    assert figures.predicted_abandon_rate == expected.abandon_rate
    # What-if: the same inputs, another head count.
    more = staffing_figures(inputs, agents=15)
    assert more.agents == 15 and (more.predicted_service_level or 0) > (
        figures.predicted_service_level or 0
    )
    assert more.agents_short == figures.agents_short  # the shortfall is against staffed agents


def test_unknown_staffing_gives_requirements_but_no_shortfall() -> None:
    kpis = window(entered=50, aht_seconds=180.0)
    figures = staffing_figures(staffing_inputs(kpis, 900, QueueSettings(), None))
    assert figures.agents_required_erlang_c == 14.0
    assert figures.agents_short is None and figures.predicted_service_level is None


def test_the_agents_required_search_reads_the_same_service_level_as_erlang_a() -> None:
    from processors.erlang_a import _erlang_a_service_level

    rng = random.Random(4)
    for _ in range(300):
        args = (
            rng.randrange(0, 80),
            rng.choice((0.0, rng.uniform(0.001, 2.0))),
            rng.uniform(30, 600),
            rng.uniform(5, 900),
            rng.choice((0.0, 20.0, rng.uniform(1, 120))),
        )
        assert _erlang_a_service_level(*args) == erlang_a(*args).service_level
    with pytest.raises(ValueError):
        _erlang_a_service_level(3, 0.1, 180.0, 0.0, 20.0)
