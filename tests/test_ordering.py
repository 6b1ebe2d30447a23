"""streams/worker/ordering.py: each partition's records planned in offset order, once, gaps named."""

from __future__ import annotations

from typing import NamedTuple

from streams.worker.ordering import Gap, PartitionOrder


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int


def plan_offsets(order: PartitionOrder, offsets: list[int], partition: int = 0) -> list[object]:
    """The plan for records of ("tel", partition) at ``offsets``: offsets, Gap markers as
    (start, end) tuples."""
    plan = order.plan([[Record("tel", partition, o) for o in offsets]])
    assert plan.gaps == [item for item in plan.items if isinstance(item, Gap)]
    return [
        out
        for item in plan.items
        for out in ([(item.start, item.end)] if isinstance(item, Gap) else [r.offset for r in item])
    ]


def test_contiguous_records_from_the_committed_offset_pass_unchanged() -> None:
    order = PartitionOrder(lambda key: 10)
    assert plan_offsets(order, [10, 11, 12]) == [10, 11, 12]
    assert plan_offsets(order, [13]) == [13]
    assert order.redelivered == {}


def test_a_record_ahead_of_the_committed_offset_is_preceded_by_its_gap() -> None:
    # The takeover seen in the fault tests: committed 624, first record delivered 625.
    order = PartitionOrder(lambda key: {("tel", 1): 624}.get(key))
    assert plan_offsets(order, [625, 626], partition=1) == [(624, 625), 625, 626]
    # The gap counts as delivered: 624 coming later is a re-delivery.
    assert plan_offsets(order, [624, 627], partition=1) == [627]
    assert order.redelivered == {"tel": 1}


def test_a_run_from_far_ahead_then_the_go_back_is_read_once() -> None:
    # The other pattern seen after a rebalance: records from near the end first, then Faust
    # goes back to the committed offset and delivers everything again in order.
    order = PartitionOrder(lambda key: 156)
    assert plan_offsets(order, [1321, 1322]) == [(156, 1321), 1321, 1322]
    assert plan_offsets(order, [156, 157, 1322, 1323]) == [1323]
    assert order.redelivered == {"tel": 3}


def test_re_deliveries_below_the_committed_offset_are_dropped() -> None:
    order = PartitionOrder(lambda key: 100)
    assert plan_offsets(order, [100, 101]) == [100, 101]
    assert plan_offsets(order, [99, 100, 101, 102]) == [102]
    assert order.redelivered == {"tel": 3}


def test_without_a_committed_offset_the_partition_is_read_from_its_start() -> None:
    order = PartitionOrder(lambda key: None)
    assert plan_offsets(order, [0, 1, 3]) == [0, 1, (2, 3), 3]
    # A fresh group handed a run from far ahead first (seen on the embedded broker).
    order = PartitionOrder(lambda key: None)
    assert plan_offsets(order, [40, 41]) == [(0, 40), 40, 41]


def test_a_first_record_below_the_committed_offset_is_the_start() -> None:
    # A consumer that went back before the committed offset: nothing is dropped that the
    # engine would not skip itself.
    order = PartitionOrder(lambda key: 50)
    assert plan_offsets(order, [48, 49, 50]) == [48, 49, 50]


def test_partitions_are_independent_and_forget_starts_a_partition_afresh() -> None:
    committed = {("tel", 0): 5, ("tel", 1): 7}
    order = PartitionOrder(committed.get)
    records = [Record("tel", 0, 5), Record("tel", 1, 8), Record("tel", 0, 6)]
    plan = order.plan([[record] for record in records])
    assert plan.items == [[records[0]], Gap("tel", 1, 7, 8), [records[1]], [records[2]]]
    assert plan.gaps == [Gap("tel", 1, 7, 8)]
    order.forget([("tel", 0)])
    committed[("tel", 0)] = 3
    assert plan_offsets(order, [3, 4]) == [3, 4]
    assert plan_offsets(order, [9], partition=1) == [9]
    order.forget()
    assert plan_offsets(order, [3]) == [3]


def test_expected_is_the_resume_offset_until_a_record_is_planned() -> None:
    order = PartitionOrder(lambda key: {("tel", 0): 40}.get(key))
    assert order.expected(("tel", 0)) == 40
    assert order.expected(("tel", 1)) == 0  # nothing committed: from the start
    plan_offsets(order, [40, 41])
    assert order.expected(("tel", 0)) == 42


def test_tail_names_the_offsets_a_stalled_partition_never_delivered() -> None:
    # The stuck fault-test partition: nothing committed, 114 records, none delivered.
    order = PartitionOrder(lambda key: None)
    assert order.tail(("tick", 0), 114) == Gap("tick", 0, 0, 114)
    assert order.expected(("tick", 0)) == 114
    assert order.tail(("tick", 0), 114) is None
    # Faust delivering them after all: re-deliveries, dropped; what follows passes.
    plan = order.plan([[Record("tick", 0, o) for o in (112, 113, 114)]])
    assert [[r.offset for r in run] for run in plan.items] == [[114]]  # type: ignore[union-attr]
    assert order.redelivered == {"tick": 2}


def test_tail_after_planned_records_starts_at_the_next_expected_offset() -> None:
    order = PartitionOrder(lambda key: 10)
    plan_offsets(order, [10, 11])
    assert order.tail(("tel", 0), 11) is None
    assert order.tail(("tel", 0), 20) == Gap("tel", 0, 12, 20)


def test_a_run_with_a_hole_or_a_repeat_is_planned_record_by_record() -> None:
    # Same first offset, same length and same last offset as a run with no hole: only the
    # offsets themselves tell (5, 6, 7 redelivered where 8, 9 are missing).
    order = PartitionOrder(lambda key: 5)
    assert plan_offsets(order, [5, 6, 7, 5, 6, 7, 10]) == [5, 6, 7, (8, 10), 10]
    assert order.redelivered == {"tel": 3}
    # A whole run from the expected offset is planned as it came, as one run.
    plan = order.plan([[Record("tel", 0, o) for o in (11, 12, 13)]])
    assert [[r.offset for r in run] for run in plan.items] == [[11, 12, 13]]  # type: ignore[union-attr]
