"""streams/faust_acks.py: a message Faust's stream skipped is never acknowledged for commit."""

from __future__ import annotations

from typing import Any

import faust.streams
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types.tuples import TP, ConsumerMessage
from intervaltree import IntervalTree

from streams.faust_acks import (
    GuardedStreamIterator,
    ack_offsets,
    dedupe_acked,
    install_ack_guard,
    skipped,
)


class RecordingConsumer:
    """Stands in for Faust's consumer: records which offsets were acknowledged for commit."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, message: Any) -> bool:
        self.acked.append(message.offset)
        return True


def message(offset: int, tracked: bool) -> ConsumerMessage:
    msg = ConsumerMessage(
        "t.telephony", 0, offset, 0.0, 0, None, b"k", b"v", None, tp=TP("t.telephony", 0)
    )
    msg.tracked = tracked
    msg.refcount = 1
    return msg


def test_an_untracked_message_is_marked_done_but_not_acknowledged_for_commit() -> None:
    install_ack_guard(["t.telephony"])
    install_ack_guard(["t.telephony"])  # idempotent
    consumer = RecordingConsumer()
    skipped.clear()
    delivered, dropped = message(7, tracked=True), message(8, tracked=False)
    assert delivered.ack(consumer) is True  # type: ignore[arg-type]
    assert dropped.ack(consumer) is False  # type: ignore[arg-type]
    assert consumer.acked == [7]
    assert dropped.acked  # Faust's wait for in-flight messages does not wait for it
    assert skipped == {"t.telephony": 1}
    skipped.clear()


def test_the_compiled_stream_iterator_is_replaced_by_the_guarded_one() -> None:
    # Faust's compiled iterator acks inline, without Message.ack: it must be the subclass that
    # settles a skipped message first.
    install_ack_guard(["t.telephony"])
    assert faust.streams._CStreamIterator is GuardedStreamIterator


def test_a_message_of_an_unguarded_topic_is_left_to_faust() -> None:
    install_ack_guard(["t.telephony"])
    consumer = RecordingConsumer()
    other = ConsumerMessage("t.alerts", 0, 3, 0.0, 0, None, b"k", b"v", None, tp=TP("t.alerts", 0))
    other.refcount = 1
    skipped.clear()
    assert other.ack(consumer) is True  # type: ignore[arg-type]
    assert consumer.acked == [3] and skipped == {}


class FaustAckBook:
    """The acked-offsets bookkeeping of Faust's consumer (faust/transport/consumer.py)."""

    def __init__(self, committed: int | None) -> None:
        from collections import defaultdict

        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset[TP("t.telephony", 0)] = committed
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self._gap: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)
        self._n_acked = 0

    def new_offset(self, tp: TP) -> int | None:
        """What Faust's own commit would commit next (its ``Consumer._new_offset``)."""
        return FaustConsumer._new_offset(self, tp)  # type: ignore[arg-type]


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
