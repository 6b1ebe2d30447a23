"""WindowOccupancy (occupancy from cached closed quarter hours) agrees with the plain
recomputation, whatever the order agent changes arrive in (late ones included), wherever the
windows and the quarter boundaries fall; and the engine never serves it for a replaced state."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime

import pytest

from processors.agents import WindowOccupancy, agents_by_state, apply_agent_state, occupancy
from processors.engine import KpiEngine
from processors.events import AgentStateChanged
from processors.settings import EngineSettings
from processors.state import new_queue_state

STATES = ("available", "on_call", "wrap_up", "not_ready", "logged_out")


def _same(got: float | None, expected: float | None) -> bool:
    if expected is None:
        return got is None
    return got is not None and math.isclose(got, expected, rel_tol=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_cached_occupancy_matches_recomputation(seed: int) -> None:
    rng = random.Random(seed)
    state = new_queue_state("q")
    cache = WindowOccupancy(state)
    midnight = 1_790_000_100 - 1_790_000_100 % 86_400
    now = midnight + rng.randrange(0, 4 * 3600)
    for _ in range(300):
        now += rng.randrange(0, 120)
        # mostly in order, sometimes late (up to the allowed lateness, across quarter bounds)
        t = now - (rng.uniform(0, 120) if rng.random() < 0.2 else 0.0) + rng.random()
        cache.changed(t)
        apply_agent_state(state, f"a{rng.randrange(6)}", t, rng.choice(STATES))
        if rng.random() < 0.3:
            # today, the usual rolling windows, one whose head minute is within the lateness (a
            # late change lands in it), one of any length (also within the open quarter)
            firsts = [
                midnight,
                now - 299,
                now - 899,
                now - 3599,
                now - 89,
                now - rng.randrange(0, 7200),
            ]
            got = cache.occupancies(firsts, now)
            for first, value in zip(firsts, got, strict=True):
                assert _same(value, occupancy(state, first, now)), (first, now)


def test_the_engine_makes_a_new_cache_for_a_replaced_state() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    engine = KpiEngine(EngineSettings(windows=["today"]))
    engine.apply_all([AgentStateChanged(id="e1", time=at, queue="q", agent="a", state="on_call")])
    second = int(at.timestamp()) + 1800
    assert engine.snapshot(second)["q"].windows["today"].occupancy == 1.0
    replaced = new_queue_state("q")
    apply_agent_state(replaced, "a", at.timestamp(), "available")
    engine.queues["q"] = replaced
    assert engine.snapshot(second)["q"].windows["today"].occupancy == 0.0
    del engine.queues["q"]
    assert engine.snapshot(second) == {}
    assert "q" not in engine._runtime  # a dropped queue's state is not kept alive


@pytest.mark.parametrize("seed", range(10))
def test_cells_in_one_walk_are_the_same_floats_as_each_cell_alone(seed: int) -> None:
    from processors.agents import _busy_available, _busy_available_cells

    rng = random.Random(seed)
    state = new_queue_state("q")
    now = 1_790_000_000
    for _ in range(300):
        now += rng.randrange(0, 90)
        t = now - (rng.uniform(0, 120) if rng.random() < 0.2 else 0.0) + rng.random()
        apply_agent_state(state, f"a{rng.randrange(6)}", t, rng.choice(STATES))
    start = 1_790_000_000 - 1_790_000_000 % 60 + 60 * rng.randrange(-5, 30)
    bounds = [float(start)]
    while bounds[-1] < now + 600:
        bounds.append(bounds[-1] + rng.choice((60.0, 900.0)))
    walked = _busy_available_cells(state, bounds)
    alone = [_busy_available(state, a, b) for a, b in itertools.pairwise(bounds)]
    assert walked == alone


@pytest.mark.parametrize("seed", range(20))
def test_seconds_after_the_last_change_are_the_floats_a_walk_gives(seed: int) -> None:
    """A snapshot every second, as the worker takes them, with agents changing now and then
    (in order, late, at whole seconds and between): the occupancies are the very same floats
    whether the seconds after every agent's last change are walked or filled from the agents'
    last states, and the agents per state the same counts."""
    rng = random.Random(seed)
    state = new_queue_state("q")
    shortcut, walked = WindowOccupancy(state), WindowOccupancy(state, shortcut=False)
    midnight = 1_790_000_100 - 1_790_000_100 % 86_400
    now = midnight + rng.randrange(0, 4 * 3600)
    steady_seconds = 0
    for _ in range(600):
        now += 1
        if rng.random() < 0.15:
            late = rng.uniform(0, 90) if rng.random() < 0.2 else 0.0
            t = now - late + (0.0 if rng.random() < 0.3 else rng.random())
            for cache in (shortcut, walked):
                cache.changed(t)
            apply_agent_state(state, f"a{rng.randrange(8)}", t, rng.choice(STATES))
        firsts = [midnight, now - 299, now - 899, now - 3599, now - 59]
        assert shortcut.occupancies(firsts, now) == walked.occupancies(firsts, now), now
        # Who is in which state: from the last states now, by a search of the timelines
        # for a second a change comes after (a late change), the same answer.
        for at in (now, now - rng.randrange(1, 90)):
            assert shortcut.agents_by_state(at) == agents_by_state(state, at), at
        steady_seconds += now >= shortcut._last_states().steady_from
    assert steady_seconds > 300  # most seconds took the shortcut
