"""OccupancyCache (the incremental ``today`` occupancy) agrees with the plain recomputation,
whatever the order agent changes arrive in (late ones included) and wherever the quarter
boundaries fall."""

from __future__ import annotations

import math
import random

import pytest

from processors.agents import OccupancyCache, apply_agent_state, occupancy
from processors.state import new_queue_state

STATES = ("available", "on_call", "wrap_up", "not_ready", "logged_out")


@pytest.mark.parametrize("seed", range(20))
def test_cached_today_occupancy_matches_recomputation(seed: int) -> None:
    rng = random.Random(seed)
    state = new_queue_state("q")
    cache = OccupancyCache()
    midnight = 1_790_000_100 - 1_790_000_100 % 86_400
    now = midnight + rng.randrange(0, 4 * 3600)
    for _ in range(300):
        now += rng.randrange(0, 120)
        # mostly in order, sometimes late (up to the allowed lateness, across quarter bounds)
        t = now - (rng.uniform(0, 120) if rng.random() < 0.2 else 0.0) + rng.random()
        cache.changed("q", t)
        apply_agent_state(state, f"a{rng.randrange(6)}", t, rng.choice(STATES))
        if rng.random() < 0.3:
            expected = occupancy(state, midnight, now)
            got = cache.occupancy(state, midnight, now)
            if expected is None:
                assert got is None
            else:
                assert got is not None and math.isclose(got, expected, rel_tol=1e-12)


def test_a_replaced_state_is_not_served_from_the_cache() -> None:
    cache = OccupancyCache()
    old = new_queue_state("q")
    apply_agent_state(old, "a", 100.0, "on_call")
    assert cache.occupancy(old, 0, 2000) == 1.0
    new = new_queue_state("q")
    apply_agent_state(new, "a", 100.0, "available")
    assert cache.occupancy(new, 0, 2000) == 0.0  # a rebuilt state object: recomputed
    cache.retain({})
    assert cache._closed == {}  # a dropped queue's state is not kept alive
