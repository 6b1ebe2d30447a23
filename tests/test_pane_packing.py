"""Packed panes (processors/panes.py): chunks of second-level detail and dense arrays sum
exactly like plain dense vectors, the state round-trips them exactly, and states written in the
earlier format (a dense list of floats per second) decode to the same sums."""

from __future__ import annotations

import random
import zlib

import msgspec

from processors.counters import WIDTH
from processors.panes import STRIDE, PaneStore
from processors.state import decode_state, encode_state, new_queue_state


def _random_store(seed: int) -> tuple[PaneStore, dict[int, list[float]]]:
    rng = random.Random(seed)
    state = new_queue_state("q")
    store = PaneStore(state.panes)
    reference: dict[int, list[float]] = {}
    for _ in range(2000):
        second = 1_790_000_000 + rng.randrange(0, 4000)
        index = rng.randrange(WIDTH)
        amount = rng.choice((1.0, -1.0, 2.5, rng.uniform(0, 300)))
        store.add(second, index, amount)
        reference.setdefault(second, [0.0] * WIDTH)[index] += amount
    return store, reference


def _reference_sum(reference: dict[int, list[float]], first: int, last: int) -> list[float]:
    total = [0.0] * WIDTH
    for second in sorted(reference):
        if first <= second <= last:
            for i, value in enumerate(reference[second]):
                total[i] += value
    return total


def test_sums_match_dense_vectors() -> None:
    for seed in range(5):
        store, reference = _random_store(seed)
        # Second-level detail: one chunk of (code, amount) pairs per minute, keyed by its start.
        chunks = store.levels[0]
        assert chunks and all(start % 60 == 0 for start in chunks)
        assert all(len(chunk) % 2 == 0 for chunk in chunks.values())
        assert len(chunks) <= len({second - second % 60 for second in reference})
        rng = random.Random(seed)
        for _ in range(50):
            first = 1_790_000_000 + rng.randrange(0, 4000)
            last = first + rng.randrange(0, 2000)
            got, want = store.sum(first, last), _reference_sum(reference, first, last)
            assert all(
                abs(g - w) <= 1e-9 * max(1.0, abs(w)) for g, w in zip(got, want, strict=True)
            )


def _earlier_format(reference: dict[int, list[float]], minutes: dict[int, list[float]]) -> bytes:
    """A state as the earlier format wrote it: marker ``Z``, every pane a list of floats, and
    second-level detail as one dense vector per second."""
    state = msgspec.msgpack.decode(zlib.decompress(encode_state(new_queue_state("q"))[1:]))
    quarters: dict[int, list[float]] = {}
    for second, vector in reference.items():
        quarter = quarters.setdefault(second - second % 900, [0.0] * WIDTH)
        for i, value in enumerate(vector):
            quarter[i] += value
    state["panes"] = [reference, minutes, quarters]
    return b"Z" + zlib.compress(msgspec.msgpack.encode(state))


def test_encoding_round_trips_exactly_and_the_earlier_format_still_decodes() -> None:
    store, reference = _random_store(7)
    state = new_queue_state("q")
    state.panes = store.levels
    encoded = encode_state(state)
    assert encoded[:1] == b"P"
    restored = decode_state(encoded)
    assert restored.panes == store.levels
    assert encode_state(restored) == encoded
    first, last = 1_790_000_100, 1_790_003_500
    assert PaneStore(restored.panes).sum(first, last) == store.sum(first, last)

    minutes = {start: pane.tolist() for start, pane in store.levels[1].items()}
    earlier = decode_state(_earlier_format(reference, minutes))
    chunks = earlier.panes[0]
    assert all(start % 60 == 0 for start in chunks)
    for start, chunk in chunks.items():
        for position in range(0, len(chunk), 2):
            second, index = divmod(int(chunk[position]), STRIDE)
            assert reference[start + second][index] == chunk[position + 1]
    rng = random.Random(8)
    for _ in range(50):
        first = 1_790_000_000 + rng.randrange(0, 4000)
        last = first + rng.randrange(0, 2000)
        got = PaneStore(earlier.panes).sum(first, last)
        want = _reference_sum(reference, first, last)
        assert all(abs(g - w) <= 1e-9 * max(1.0, abs(w)) for g, w in zip(got, want, strict=True))


def test_sum_since_equals_sum_exactly_while_adds_land_anywhere() -> None:
    """The cached closed quarters of a fixed-start span are dropped when an add lands in them
    (a late event) and kept when it lands elsewhere (before the span, or in the open quarter)."""
    rng = random.Random(11)
    store = PaneStore()
    midnight = 1_790_000_000 - 1_790_000_000 % 900
    now = midnight + 5 * 3600
    for _ in range(3000):
        now += rng.randrange(0, 3)
        where = rng.random()
        if where < 0.1:
            second = now - rng.randrange(0, 5 * 3600)  # late, maybe into a closed quarter
        elif where < 0.2:
            second = midnight - rng.randrange(1, 3600)  # before the span (yesterday)
        else:
            second = now
        store.add(second, rng.randrange(WIDTH), rng.choice((1.0, -1.0, rng.uniform(0, 60))))
        if rng.random() < 0.2:
            assert store.sum_since(midnight, now) == store.sum(midnight, now)


def test_the_shared_last_minute_is_summed_again_after_an_add_lands_in_it() -> None:
    rng = random.Random(12)
    store = PaneStore()
    reference: dict[int, list[float]] = {}
    now = 1_790_000_000
    for _ in range(2000):
        now += rng.randrange(0, 2)
        second = now - rng.randrange(0, 90)  # mostly within the current minute's tail
        index, amount = rng.randrange(WIDTH), rng.uniform(-5, 60)
        store.add(second, index, amount)
        reference.setdefault(second, [0.0] * WIDTH)[index] += amount
        for length in (30, 300, 900):  # windows that share their last second
            got, want = (
                store.sum(now - length + 1, now),
                _reference_sum(reference, now - length + 1, now),
            )
            assert all(
                abs(g - w) <= 1e-9 * max(1.0, abs(w)) for g, w in zip(got, want, strict=True)
            )


def test_the_last_minute_read_from_its_pane_is_the_same_floats_as_its_chunk() -> None:
    rng = random.Random(13)
    store = PaneStore()
    now = 1_790_000_000
    for _ in range(3000):
        now += rng.randrange(0, 2)
        # in time order, now and then a little late: both paths are taken
        second = now - (rng.randrange(0, 30) if rng.random() < 0.1 else 0)
        store.add(second, rng.randrange(WIDTH), rng.uniform(-5, 60))
        if rng.random() < 0.3:
            minute = now - now % 60
            walked = store._sum_onto([0.0] * WIDTH, minute, now)
            assert store._minute_up_to(minute, now) == walked
