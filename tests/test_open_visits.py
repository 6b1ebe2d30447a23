"""Calls waiting and calls in IVR from the visits kept open (processors/open_visits.py) are
those of a look at every visit, snapshot after snapshot of one engine: events late and out of
order (within the allowed lateness), visits forgotten after the horizon, snapshots at seconds
that move on and sometimes back."""

from __future__ import annotations

import itertools
import math
import random

import msgspec
import pytest

from bench.workload import simulated_events
from processors.calls import calls_waiting
from processors.engine import KpiEngine
from processors.ivr import ivr_active
from processors.open_visits import OpenVisits

START = 1_796_000_000.0


class Visit(msgspec.Struct):
    exit_at: float | None


@pytest.mark.parametrize("seed", range(4))
def test_kept_open_visits_answer_as_every_visit(seed: int) -> None:
    rng = random.Random(seed)
    events = list(itertools.islice(simulated_events(4, START, seed=seed), 6_000))
    # Late by up to a minute (the allowed lateness is two): shuffled within that.
    events.sort(key=lambda e: e.time.timestamp() + rng.uniform(0, 60))
    engine = KpiEngine()
    looks = earlier = 0
    for first in range(0, len(events), rng.randrange(20, 200)):
        batch = events[first : first + rng.randrange(20, 200)]
        engine.apply_all(batch)
        newest = max(e.time.timestamp() for e in batch)
        at = math.floor(newest) - (rng.randrange(0, 300) if rng.random() < 0.1 else 0)
        earlier += at < math.floor(newest)
        for queue, state in engine.queues.items():
            live = engine.queue_snapshot(queue, at, channels=False).live
            waiting, oldest = calls_waiting(state, at)
            assert (live.calls_waiting, live.oldest_wait_seconds) == (waiting, oldest), (
                queue,
                at,
            )
            assert live.ivr_active == ivr_active(state, at), (queue, at)
            looks += 1
    assert looks > 100 and earlier > 0  # the test looked often, and back in time too


def test_a_visit_forgotten_or_ended_is_dropped_and_an_event_brings_it_back() -> None:
    open_visits = OpenVisits()
    visits = {"a": Visit(None), "b": Visit(90.0), "c": Visit(None)}

    def seen(before: float) -> set[str]:
        found = open_visits.visits(visits, before)
        return {key for key, visit in visits.items() if any(v is visit for v in found)}

    assert seen(100.0) == {"a", "c"}
    visits["a"].exit_at = 100.5  # ended, by an event of its own
    open_visits.touched("a")
    assert seen(100.2) == {"a", "c"}  # "a" not ended yet at 100.2
    del visits["c"]  # forgotten after the horizon
    assert seen(101.0) == set()
    # An earlier instant looks at every visit (and "b" ended before it, "a" after).
    assert seen(95.0) == {"a", "b"}
    visits["d"] = Visit(None)
    open_visits.touched("d")
    assert seen(102.0) == {"d"}


def test_marks_between_rare_looks_are_let_go_past_twice_the_visits() -> None:
    """A worker looked at rarely (no alert timer, no scrape) is sent a call after another: the
    keys kept do not pile up with them, and the next look still answers from every visit."""
    open_visits = OpenVisits()
    visits = {f"v{n}": Visit(None) for n in range(10)}
    assert len(list(open_visits.visits(visits, 100.0))) == 10
    for n in range(10, 2 * 10 + 64):
        visits[f"v{n}"] = Visit(None)
        open_visits.touched(f"v{n}")
    assert len(open_visits._keys or ()) == 2 * 10 + 64  # at the bound: still kept
    visits["last"] = Visit(None)
    open_visits.touched("last")
    assert open_visits._keys is None  # past it: let go
    assert len(list(open_visits.visits(visits, 101.0))) == len(visits) == 2 * 10 + 65
