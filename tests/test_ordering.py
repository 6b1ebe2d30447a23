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
