"""streams/faust_adapter/acks.py: the checkpoint's acks land in Faust's bookkeeping so that
Faust's own commit (``Consumer._new_offset``, called here) commits exactly what was applied.
Against real Faust consumers (tests/faust_objects.py), not stand-ins."""

from __future__ import annotations

from typing import Any

from aiokafka.structs import ConsumerRecord
from faust.types.tuples import TP
from hypothesis import given
from hypothesis import strategies as st

from streams.faust_adapter.acks import (
    _faust_new_offset,
    ack_offsets,
    ack_records,
    dedupe_acked,
    new_offset,
)
from tests.faust_objects import worker_consumer


def FaustAckBook(committed: int | None) -> Any:
    """A real consumer of the worker's Faust app (tests/faust_objects.py) whose committed
    offset of partition 0 is ``committed``; ``book.new_offset(tp)`` is what Faust's own commit
    would commit next (its ``Consumer._new_offset``)."""
    book = worker_consumer({TP("t.telephony", 0): committed})
    book.new_offset = lambda tp: _faust_new_offset(book, tp)
    return book


def test_a_gaps_offsets_are_acked_once_and_never_below_the_committed_offset() -> None:
    book = FaustAckBook(committed=957)
    # The gap of the failed fault-test run: 957..995 read by the gap reader, 996 delivered.
    assert ack_offsets(book, "t.telephony", 0, 950, 996) == 39
    tp = TP("t.telephony", 0)
    assert book._acked[tp] == list(range(957, 996)) and book._n_acked == 39
    assert ack_offsets(book, "t.telephony", 0, 990, 996) == 0  # already acked
    assert ack_offsets(book, "t.telephony", 1, 0, 3) == 3  # no committed offset yet


def test_a_gap_faust_also_recorded_is_committed_in_one_go() -> None:
    # Seen in a full test run: Faust's committed offset crept up by one a second from 38 while
    # everything to 63 was applied and acked. Faust had recorded the jump from 37 to 63 as its
    # own gap interval (38..63, the delivered 63 included), the gap reader's offsets were acked
    # as well, and Faust's commit stops at the first duplicate.
    tp = TP("t.telephony", 0)
    book = FaustAckBook(committed=38)
    book._gap[tp].addi(38, 64)  # what Consumer._add_gap(tp, 38, 63) records
    assert ack_offsets(book, "t.telephony", 0, 38, 63) == 25
    book._acked[tp].append(63)  # the delivered record, acked by the stream
    book._acked_index[tp].add(63)
    assert book.new_offset(tp) == 64


def test_duplicate_acks_are_dropped_so_faust_commits_the_whole_run() -> None:
    tp = TP("t.telephony", 0)
    book = FaustAckBook(committed=38)
    book._acked[tp] = [38, 38, 39, 39, 40, 41, 41]
    probe = FaustAckBook(committed=38)
    probe._acked[tp] = list(book._acked[tp])
    assert probe.new_offset(tp) == 39  # Faust alone: one offset per commit
    assert dedupe_acked(book, "t.telephony", 0) == 3
    assert book._acked[tp] == [38, 39, 40, 41]
    assert book.new_offset(tp) == 42
    assert dedupe_acked(book, "t.telephony", 1) == 0


def record(topic: str, partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"v", None, 1, 1, ())


def test_a_batchs_records_are_acked_per_partition_and_committed_through_its_last() -> None:
    book = FaustAckBook(committed=10)
    zero = [record("t.telephony", 0, o) for o in (8, 9, 10, 11, 12)]  # 8, 9: re-delivered
    one = [record("t.telephony", 1, 0), record("t.telephony", 1, 1)]
    assert ack_records(book, [zero, one]) == 5
    assert book._acked[TP("t.telephony", 0)] == [10, 11, 12]
    assert book._acked[TP("t.telephony", 1)] == [0, 1]
    assert book._n_acked == 5
    assert ack_records(book, [zero[2:4]]) == 0  # acked once only: a duplicate ends a commit
    assert book.new_offset(TP("t.telephony", 0)) == 13
    # A run whose offsets repeat where others are missing acks only the offsets it holds.
    odd = [record("t.telephony", 1, o) for o in (2, 3, 2, 3, 6)]
    assert ack_records(book, [odd]) == 3
    assert book._acked[TP("t.telephony", 1)] == [0, 1, 2, 3, 6]
    assert book.new_offset(TP("t.telephony", 1)) == 4


@given(
    acked=st.lists(st.integers(0, 60), max_size=40),
    committed=st.none() | st.integers(0, 30),
    gaps=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 5)), max_size=2),
    commits=st.integers(1, 3),
)
def test_the_commit_offset_found_in_c_is_fausts_own(
    acked: list[int], committed: int | None, gaps: list[tuple[int, int]], commits: int
) -> None:
    """Whatever the acked offsets (unsorted, repeated), the committed offset and Faust's own gap
    intervals: new_offset returns what Faust's _new_offset returns, commit after commit, and
    leaves the same acked list, index and gaps."""
    tp = TP("t.telephony", 0)
    books = []
    for _ in range(2):
        book = FaustAckBook(committed)
        book._acked[tp] = list(acked)
        book._acked_index[tp] = set(acked)
        for start, length in gaps:
            book._gap[tp].addi(start, start + length)
        books.append(book)
    ours, faust = books
    for _ in range(commits):
        expected = faust.new_offset(tp)
        assert new_offset(ours, tp) == expected
        assert ours._acked[tp] == faust._acked[tp]
        assert ours._acked_index[tp] == faust._acked_index[tp]
        assert sorted(ours._gap[tp]) == sorted(faust._gap[tp])
        if expected is not None:
            ours._committed_offset[tp] = faust._committed_offset[tp] = expected
