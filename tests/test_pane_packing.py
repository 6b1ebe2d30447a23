"""Packed panes (processors/panes.py): sparse second panes and dense arrays sum exactly like
plain dense vectors, and the state encodes them as the same lists of floats as before."""

from __future__ import annotations

import random
import zlib

import msgspec

from processors.counters import WIDTH
from processors.panes import PaneStore, SparsePane
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
        assert all(type(pane) is SparsePane for pane in store.levels[0].values())
        rng = random.Random(seed)
        for _ in range(50):
            first = 1_790_000_000 + rng.randrange(0, 4000)
            last = first + rng.randrange(0, 2000)
            got, want = store.sum(first, last), _reference_sum(reference, first, last)
            assert all(
                abs(g - w) <= 1e-9 * max(1.0, abs(w)) for g, w in zip(got, want, strict=True)
            )


def test_encoding_is_the_dense_list_format_and_round_trips_exactly() -> None:
    store, reference = _random_store(7)
    state = new_queue_state("q")
    state.panes = store.levels
    encoded = encode_state(state)
    plain = msgspec.msgpack.decode(zlib.decompress(encoded[1:]))
    assert plain["panes"][0] == reference  # each second's dense vector, same additions
    assert all(len(v) == WIDTH for level in plain["panes"] for v in level.values())
    restored = decode_state(encoded)
    assert encode_state(restored) == encoded
    # A state written when panes were lists (the same MessagePack) decodes to the same state.
    assert encode_state(decode_state(msgspec.msgpack.encode(plain))) == encoded
    first, last = 1_790_000_100, 1_790_003_500
    assert PaneStore(restored.panes).sum(first, last) == store.sum(first, last)
