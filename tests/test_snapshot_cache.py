"""SnapshotCache (processors/snapshot_cache.py) serves exactly the engine's snapshots while
recomputing only the queues that changed or whose second moved."""

from __future__ import annotations

import itertools
import math

import msgspec

from processors.engine import KpiEngine, Position
from processors.snapshot_cache import SnapshotCache
from processors.state import decode_state, encode_state
from streams.offline.simulator import QueueModel, Simulation

START = 1_790_000_000.0


def _events(count: int) -> list[object]:
    queues = [
        QueueModel(name=f"q{i}", calls_per_hour=240.0, agents=6, tickets_per_hour=30.0)
        for i in range(4)
    ]
    return list(itertools.islice(Simulation(queues, start=START, seed=3).events(), count))


def _builtins(snaps: dict[str, object]) -> object:
    return msgspec.to_builtins(snaps)


def _no_channels(snaps: dict[str, object]) -> object:
    """The snapshots without their per-channel windows (a kept snapshot keeps the ones a
    reader added within its second)."""
    plain = _builtins(snaps)
    assert isinstance(plain, dict)
    return {
        name: {k: v for k, v in snap.items() if k != "channels"} for name, snap in plain.items()
    }


def test_cached_snapshots_equal_fresh_ones_batch_after_batch() -> None:
    events = _events(3000)
    engine = KpiEngine()
    cache = SnapshotCache(engine)
    offset = 0
    for first in range(0, len(events), 150):
        batch = events[first : first + 150]
        result = engine.apply(
            (event, Position("t", 0, offset + i))  # type: ignore[misc]
            for i, event in enumerate(batch)
        )
        offset += len(batch)
        cache.touch(result.touched)
        newest = max(s.watermark or 0.0 for s in engine.queues.values())
        # read twice in the same second and once a second later, as scrapes and timers do
        for at in (newest, newest + 0.4, newest + 1.0):
            second = math.floor(at)
            cached = cache.snapshots(at)
            fresh = engine.snapshot(second, channels=False)
            assert _no_channels(cached) == _no_channels(fresh)
            # The per-channel windows, added by the readers that show them (the simulator's
            # chats split every queue): then the whole snapshot is the engine's.
            missing = cache.without_channels(cached)
            cache.add_channels(missing)
            assert _builtins(cached) == _builtins(engine.snapshot(second))
            split = [name for name, snap in cached.items() if snap.channels]
    assert split and not cache.without_channels(cache.snapshots(newest + 1.0))


def _cache_after(count: int) -> tuple[KpiEngine, SnapshotCache, int]:
    """An engine that applied ``count`` simulated events, a cache on it, and its newest second."""
    engine = KpiEngine()
    engine.apply_all(_events(count))  # type: ignore[arg-type]
    return (
        engine,
        SnapshotCache(engine),
        math.floor(max(s.watermark or 0.0 for s in engine.queues.values())),
    )


def test_untouched_queues_are_reused_within_a_second_and_recomputed_after() -> None:
    engine, cache, at = _cache_after(2000)
    first = cache.snapshots(at)
    cache.touch(["q1"])
    again = cache.snapshots(at + 0.9)
    assert set(again) == set(engine.queues) == set(first)
    for name in first:
        assert (again[name] is first[name]) == (name != "q1")
    later = cache.snapshots(at + 1)
    assert all(later[name] is not again[name] for name in later)
    assert all(snap.at == float(at + 1) for snap in later.values())


def test_replaced_or_dropped_states_are_never_served_from_the_cache() -> None:
    engine, cache, at = _cache_after(1500)
    before = cache.snapshots(at)
    engine.queues["q0"] = decode_state(encode_state(engine.queues["q0"]))  # a rebuilt state
    del engine.queues["q2"]  # a revoked queue
    after = cache.snapshots(at)
    assert "q2" not in after
    assert after["q0"] is not before["q0"]
    assert _builtins(after) == _builtins(engine.snapshot(at, channels=False))
    cache.clear()
    assert _builtins(cache.snapshots(at)) == _builtins(engine.snapshot(at, channels=False))


def test_kept_serves_what_a_sliced_reader_computed_and_only_fills_what_is_missing() -> None:
    engine, cache, at = _cache_after(2000)
    # A reader computes the stale queues itself, one at a time (the worker's fresh_snapshots).
    for name in cache.stale(at):
        cache.refresh(at, [name])
    first = cache.kept(at)
    assert _builtins(first) == _builtins(engine.snapshot(at, channels=False))
    # Meanwhile a batch touches q1, another reader moves q2 to the next second, q3 is dropped
    # and q0's state is replaced: kept serves q1's and q2's snapshots as they are, recomputes
    # only the replaced one, and drops the gone one.
    cache.touch(["q1"])
    cache.refresh(at + 1, ["q2"])
    moved = cache.kept(at + 1)["q2"]
    del engine.queues["q3"]
    engine.queues["q0"] = decode_state(encode_state(engine.queues["q0"]))
    kept = cache.kept(at)
    assert sorted(kept) == ["q0", "q1", "q2"]
    assert kept["q1"] is first["q1"] and kept["q2"] is moved and moved.at == float(at + 1)
    assert kept["q0"] is not first["q0"]
    assert _builtins(kept["q0"]) == _builtins(engine.snapshot(at, channels=False)["q0"])
    # snapshots() would have computed q1 and q2 again, for this second.
    assert cache.snapshots(at)["q1"] is not first["q1"]
