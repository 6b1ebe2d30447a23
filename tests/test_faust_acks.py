"""streams/faust_acks.py: a message Faust's stream skipped is never acknowledged for commit."""

from __future__ import annotations

from typing import Any

import faust.streams
from faust.types.tuples import TP, ConsumerMessage

from streams.faust_acks import GuardedStreamIterator, ack_offsets, install_ack_guard, skipped


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
        self._n_acked = 0


def test_a_gaps_offsets_are_acked_once_and_never_below_the_committed_offset() -> None:
    book = FaustAckBook(committed=957)
    # The gap of the failed fault-test run: 957..995 read by the gap reader, 996 delivered.
    assert ack_offsets(book, "t.telephony", 0, 950, 996) == 39
    tp = TP("t.telephony", 0)
    assert book._acked[tp] == list(range(957, 996)) and book._n_acked == 39
    assert ack_offsets(book, "t.telephony", 0, 990, 996) == 0  # already acked
    assert ack_offsets(book, "t.telephony", 1, 0, 3) == 3  # no committed offset yet
