"""streams/ordering.py: records reach the engine in each partition's offset order."""

from __future__ import annotations

from typing import NamedTuple

from streams.ordering import PartitionOrder


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int


def offsets(records: list[Record]) -> list[int]:
    return [r.offset for r in records]


def test_a_record_ahead_of_the_committed_offset_is_held_back_until_its_turn() -> None:
    # What was seen after a rebalance: offset 1321 first, then the consumer went back to the
    # committed offset 156 and delivered everything in order, 1321 included.
    order = PartitionOrder(lambda key: {("tel", 0): 156}.get(key))
    first = list(order.admit([Record("tel", 0, o) for o in range(1321, 1330)]))
    assert first == [] and order.held_back == [("tel", 0, 156, 1321)]
    assert order.held_count == {"tel": 9}
    again = list(order.admit(Record("tel", 0, o) for o in range(156, 1322)))
    assert offsets(again) == list(range(156, 1322))


def test_re_deliveries_pass_and_the_order_follows_them() -> None:
    order = PartitionOrder(lambda key: None)
    admitted = [Record("tel", 0, o) for o in (10, 11, 12, 11, 12, 13)]
    assert offsets(list(order.admit(admitted))) == [10, 11, 12, 11, 12, 13]
    assert order.held_back == []


def test_partitions_are_independent_and_forgotten_on_revocation() -> None:
    order = PartitionOrder(lambda key: 5)
    batch = [Record("tel", 0, 5), Record("tick", 0, 5), Record("tel", 1, 5), Record("tel", 0, 7)]
    assert offsets(list(order.admit(batch))) == [5, 5, 5]
    assert order.held_back == [("tel", 0, 6, 7)]
    order.forget([("tel", 0)])
    # Re-assigned: starts again from the committed offset (5 here), not from where it was.
    assert offsets(list(order.admit([Record("tel", 0, 5), Record("tel", 1, 6)]))) == [5, 6]


def test_a_first_record_below_the_committed_offset_is_a_re_delivery() -> None:
    order = PartitionOrder(lambda key: 100)
    assert offsets(list(order.admit([Record("tel", 0, 90), Record("tel", 0, 91)]))) == [90, 91]


class Clock:
    """A hand-moved clock, so the hold's timeout needs no sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_jump_then_a_go_back_applies_each_offset_once_in_order() -> None:
    clock = Clock()
    order = PartitionOrder(lambda key: 10, hold_seconds=5.0, clock=clock)
    applied = offsets(list(order.admit([Record("tel", 0, o) for o in (10, 11, 20, 21)])))
    assert applied == [10, 11] and order.holding() == {("tel", 0): 2}
    # The consumer goes back to 12 and delivers 12..21 in order: the buffer is discarded, since
    # 20 and 21 come again in their turn.
    applied += offsets(list(order.admit(Record("tel", 0, o) for o in range(12, 22))))
    assert order.holding() == {}
    clock.now = 60.0
    applied += offsets(list(order.admit([Record("tel", 0, 22)])))
    assert applied == list(range(10, 23))
    assert order.gaps == []


def test_a_permanent_gap_is_accepted_after_the_hold_and_the_buffer_released_in_order() -> None:
    # The rebalance test's case: the takeover starts at 74, the committed 73 never comes.
    clock = Clock()
    order = PartitionOrder(lambda key: {("tel", 0): 73}.get(key), hold_seconds=5.0, clock=clock)
    first = [Record("tel", 0, o) for o in (75, 74, 76, 78)]
    assert list(order.admit(first)) == [] and order.held_back == [("tel", 0, 73, 75)]
    clock.now = 4.9
    # Still within the hold; 76 delivered twice is buffered once.
    assert list(order.admit([Record("tel", 0, 76), Record("tel", 0, 79)])) == []
    clock.now = 5.0
    released = list(order.admit([Record("tel", 0, 80), Record("tick", 0, 3)]))
    # The buffer comes first, in offset order and once each, then the new batch's records.
    assert offsets(released) == [74, 75, 76, 78, 79, 80, 3]
    assert [r.topic for r in released] == ["tel"] * 6 + ["tick"]
    # Skipped: 73 (never delivered) and 77 (inside the buffer), from expected 73 to last 79.
    assert order.gaps == [("tel", 0, 73, 74, 2)]
    assert order.holding() == {}
    assert order.held_count == {"tel": 6}
    # Past the gap the partition runs as before; a late 73 is a re-delivery and passes.
    assert offsets(list(order.admit([Record("tel", 0, 81), Record("tel", 0, 73)]))) == [81, 73]


def test_a_timed_out_hold_is_released_by_a_batch_of_another_partition() -> None:
    clock = Clock()
    order = PartitionOrder(lambda key: 0, hold_seconds=1.0, clock=clock)
    assert list(order.admit([Record("tel", 0, 2)])) == []
    clock.now = 1.5
    assert offsets(list(order.admit([Record("tel", 1, 0)]))) == [2, 0]
    assert order.gaps == [("tel", 0, 0, 2, 2)]


def test_a_full_buffer_accepts_the_gap_at_once() -> None:
    clock = Clock()
    order = PartitionOrder(lambda key: 0, hold_seconds=5.0, max_held=3, clock=clock)
    released = list(order.admit([Record("tel", 0, o) for o in (5, 6, 7, 8, 9)]))
    # The third buffered record fills the buffer: 5..7 are released before 8 and 9 follow.
    assert offsets(released) == [5, 6, 7, 8, 9]
    assert order.gaps == [("tel", 0, 0, 5, 5)]
    assert order.holding() == {} and order.held_count == {"tel": 3}


def test_forget_drops_the_buffer_of_a_revoked_partition() -> None:
    clock = Clock()
    order = PartitionOrder(lambda key: 0, hold_seconds=5.0, clock=clock)
    assert list(order.admit([Record("tel", 0, 4), Record("tel", 1, 4)])) == []
    order.forget([("tel", 0)])
    assert order.holding() == {("tel", 1): 1}
    order.forget()
    assert order.holding() == {}
    clock.now = 60.0
    # Nothing is released after the hold: re-assigned, the partitions start afresh.
    assert offsets(list(order.admit([Record("tel", 0, 0)]))) == [0]
    assert order.gaps == []


def test_a_new_assignment_resumes_after_the_recovered_state_when_faust_has_no_commit_yet() -> None:
    """Faust may hand over the first records before it has seeded its committed offsets; the
    recovered queue states then say where the partition must resume."""
    from types import SimpleNamespace

    from processors.engine import KpiEngine
    from streams.app import _resume_offset

    engine = KpiEngine()
    engine.state("billing").offsets["tel:0"] = 41
    engine.state("sales").offsets["tel:0"] = 57
    engine.state("support").offsets["tel:1"] = 9
    app = SimpleNamespace(consumer=SimpleNamespace(_committed_offset={}))
    assert _resume_offset(app, engine, ("tel", 0)) == 58  # type: ignore[arg-type]
    assert _resume_offset(app, engine, ("tel", 1)) == 10  # type: ignore[arg-type]
    assert _resume_offset(app, engine, ("tel", 2)) is None  # type: ignore[arg-type]
    app.consumer._committed_offset[("tel", 0)] = 50
    assert _resume_offset(app, engine, ("tel", 0)) == 50  # type: ignore[arg-type]
